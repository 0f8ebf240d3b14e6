-- Back to 0039: the index of every posting by account and id. Built under
-- postings' SHARE lock (writers of postings wait while it reads them).
CREATE INDEX postings_account_id ON postings (account_id, id) INCLUDE (amount);
COMMENT ON INDEX postings_account_id IS
    'ledger.Statement of an account that may not go negative: its postings newest first by id, from a cursor; hotStatement''s lookup of its cursor posting (by account and id)';
