-- 0050 only checked 0049's index and named its query; 0049's down drops it
-- (if 0050's error was followed, it may be gone already).
DO $$
BEGIN
    IF to_regclass('money_movements_priced_since') IS NOT NULL THEN
        COMMENT ON INDEX money_movements_priced_since IS NULL;
    END IF;
END $$;
