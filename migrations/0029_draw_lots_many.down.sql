DROP FUNCTION draw_lots_many(text[], bigint[], bigint[], timestamptz);
