-- 0050 only checked 0049's index and named its query; 0049's down drops it.
COMMENT ON INDEX money_movements_priced_since IS NULL;
