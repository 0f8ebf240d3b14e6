-- An account's postings by id serve one read: the statement of an account
-- that may not go negative (ledger.Statement), in id order, which is the
-- order its balance row's lock gave them. Such a posting, and only such a
-- posting, records the balance it left (balance_after): a platform
-- account's, or a customer's points owed, none. So the index keeps those
-- postings alone, and a shipment event's platform posting, half of every
-- event's postings, enters it no more. 0039 checks that it was built,
-- and 0040 drops the index of every posting, postings_account_id.
--
-- Built CONCURRENTLY (the statement alone in its file runs outside a
-- transaction): writers of postings are not held back while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS postings_account_id_nonnegative ON postings (account_id, id)
    INCLUDE (amount) WHERE balance_after IS NOT NULL;
