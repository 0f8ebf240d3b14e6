DROP TABLE redemptions;
DROP TABLE products;
DROP FUNCTION restore_lots(text, bigint, bigint);
DROP FUNCTION draw_lots(text, bigint, bigint, timestamptz, timestamptz);
DROP TABLE lot_draws;
DROP TABLE points_lots;
