-- The cursor of a platform account's statement (hotStatement) is a posting
-- id, which 0040 leaves in no B-tree: platform postings leave
-- postings_account_id with it. Postings are only ever appended, and their
-- ids grow with the table, so a BRIN index finds one from a summary of
-- each range of 32 pages: a lookup reads one range, and a posting written
-- adds no index entry (a range is summarised once it is full, by
-- autovacuum; until then a lookup reads it whole).
--
-- Built CONCURRENTLY (the statement alone in its file runs outside a
-- transaction): writers of postings are not held back while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS postings_id_brin ON postings USING brin (id)
    WITH (pages_per_range = 32, autosummarize = on);
