-- 0038's index is the one the statements of accounts that may not go
-- negative read from now on; 0040 drops postings_account_id, which held
-- every posting. A CONCURRENTLY build that was interrupted leaves its
-- index marked invalid, which IF NOT EXISTS then keeps and no query may
-- use: 0040 runs only once it is valid.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indexrelid = to_regclass('postings_account_id_nonnegative')
                     AND i.indrelid = 'postings'::regclass AND i.indisvalid) THEN
        RAISE EXCEPTION 'postings_account_id_nonnegative is missing or invalid (an interrupted build): drop it, run tally migrate force 37, and migrate again';
    END IF;
END $$;

COMMENT ON INDEX postings_account_id_nonnegative IS
    'ledger.Statement of an account that may not go negative (its postings, and only they, record balance_after): newest first by id, from a cursor';
