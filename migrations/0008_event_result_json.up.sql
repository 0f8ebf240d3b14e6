-- An event's result is stored to be answered again, never queried inside:
-- json keeps the bytes as written (a replay answers exactly the first
-- answer) and spares PostgreSQL parsing each result into jsonb.
-- (The ALTER rewrites the table: on a large one, run it off-peak.)
ALTER TABLE events ALTER COLUMN result TYPE json USING result::json;
