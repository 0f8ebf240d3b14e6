-- The index that becomes postings' primary key in 0034, built first and
-- CONCURRENTLY (the statement alone in its file runs outside a
-- transaction): writers of postings are not held back while it builds,
-- and no lock is taken that a transaction which read postings and then
-- writes one (Tx.Reverse) could deadlock with. Built in one transaction
-- with the key's swap, the build's SHARE lock then the swap's ACCESS
-- EXCLUSIVE did: with a server of the previous release still running, the
-- migration was aborted and left the schema marked dirty.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS postings_entry_account ON postings (entry_id, account_id);
