-- Back to a hash on every entry: the entries written without one get an
-- empty one (no replay reads it: they have no key), the append-only
-- trigger set aside for that update alone (the file is one transaction).
-- Stop every server of the release that writes NULL first: its inserts
-- would fail the NOT NULL. The update rewrites every keyless entry written
-- since 0035 under the table's ACCESS EXCLUSIVE lock (28 s, and the table
-- grew from 836 MB to 1.5 GB, for 3 million of them).
ALTER TABLE entries DROP CONSTRAINT entries_key_has_hash;
ALTER TABLE entries DISABLE TRIGGER entries_append_only;
UPDATE entries SET request_hash = '\x' WHERE request_hash IS NULL;
ALTER TABLE entries ENABLE TRIGGER entries_append_only;
ALTER TABLE entries ALTER COLUMN request_hash SET NOT NULL;
