CREATE INDEX points_lots_open ON points_lots (account_id, expires_at, id) WHERE remaining > 0;
DROP INDEX points_lots_open_covering;
