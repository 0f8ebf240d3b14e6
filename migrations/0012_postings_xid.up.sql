-- A platform (hot) account's postings are not serialised by a row lock, so
-- their ids do not follow commit order: a statement paged by id could pass
-- over a posting that commits later below an id already shown. Each posting
-- records the transaction that wrote it; platform statements are ordered by
-- (xid, id) and show only postings of transactions older than every one
-- still in flight, so nothing can later appear below a page already read.
-- Postings written before this migration all committed long ago: xid 0.
ALTER TABLE postings ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE postings ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
-- Only postings of hot accounts (the ones with no stored balance_after).
CREATE INDEX postings_hot_account_xid ON postings (account_id, xid, id) INCLUDE (amount)
    WHERE balance_after IS NULL;
