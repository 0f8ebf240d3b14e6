-- A customer's points summary (balances, profile) adds up their open lots by
-- availability and expiry. A customer who ships daily holds hundreds of
-- lots, each on its own heap page: with the columns in the index the sum is
-- an index-only scan of a few leaf pages instead of a heap page per lot
-- (make bench, scenario 5, 500 lots per customer).
CREATE INDEX points_lots_open_covering ON points_lots (account_id, expires_at, id)
    INCLUDE (available_at, remaining) WHERE remaining > 0;
DROP INDEX points_lots_open;
