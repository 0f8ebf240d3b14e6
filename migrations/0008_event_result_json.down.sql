ALTER TABLE events ALTER COLUMN result TYPE jsonb USING result::jsonb;
