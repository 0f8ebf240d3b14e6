-- postings_account_id (account_id, id) held every posting; 0038's index
-- holds those that record a balance, the only ones a statement reads by
-- id, and 0039's finds a platform statement's cursor. Each shipment event
-- writes one index entry fewer (its platform posting), and the platform
-- account's postings no longer all append to one leaf of it.
--
-- A CONCURRENTLY build that was interrupted leaves an index marked
-- invalid, which IF NOT EXISTS then keeps and no query may use: the old
-- index is dropped only once both are valid.
DO $$
BEGIN
    IF (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname IN ('postings_account_id_nonnegative', 'postings_id_brin') AND i.indisvalid) <> 2 THEN
        RAISE EXCEPTION 'postings_account_id_nonnegative or postings_id_brin is missing or invalid (an interrupted build): drop it, run tally migrate force 37, and migrate again';
    END IF;
END $$;
-- The drop takes postings' ACCESS EXCLUSIVE lock first (no weaker lock on
-- postings before it in this transaction, which a transaction that read
-- postings and then writes one could deadlock with), for a moment.
DROP INDEX postings_account_id;

COMMENT ON INDEX postings_account_id_nonnegative IS
    'ledger.Statement of an account that may not go negative (its postings, and only they, record balance_after): newest first by id, from a cursor';
COMMENT ON INDEX postings_id_brin IS
    'hotStatement: a platform statement''s cursor posting, by id';
