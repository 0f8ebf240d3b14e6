-- 0039 only checked 0038's index and named its query. Going down, 0040's
-- down has built postings_account_id again: its comment, as 0034 wrote it.
COMMENT ON INDEX postings_account_id IS
    'ledger.Statement of an account that may not go negative: its postings newest first by id, from a cursor; hotStatement''s lookup of its cursor posting (by account and id)';
