-- Postings of different transactions get ids (and their entries ids) in the
-- order they were written, not the order they commit: a statement paged by
-- id could pass over a posting that commits later below an id already shown
-- (on a platform account, whose rows no lock orders, and on a customer's
-- statement, which merges accounts locked one by one). Each posting records
-- the transaction that wrote it; statements are ordered by (xid, entry) and
-- show only postings of transactions older than every one still in flight,
-- so nothing can later appear below a page already read.
-- Postings written before this migration all committed long ago: xid 0.
ALTER TABLE postings ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE postings ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
-- Statements read an account's postings in that order; it replaces the
-- (account, entry) index, which only statements used.
CREATE INDEX postings_account_xid ON postings (account_id, xid, entry_id) INCLUDE (amount);
DROP INDEX postings_account_entry;
