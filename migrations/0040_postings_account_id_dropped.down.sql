-- Back to 0039: the index of every posting by account and id, built
-- CONCURRENTLY (writers of postings are not held back). Its comment is
-- 0039's down.
CREATE INDEX CONCURRENTLY IF NOT EXISTS postings_account_id ON postings (account_id, id) INCLUDE (amount);
