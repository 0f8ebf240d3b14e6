ALTER TABLE shipments DROP COLUMN points_owed;
DROP TABLE points_settlements;
DROP TABLE points_owed;
