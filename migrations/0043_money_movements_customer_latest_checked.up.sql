-- 0042's index is the one prepaid.History reads from now on; 0044 drops
-- money_movements_customer. A CONCURRENTLY build that was interrupted
-- leaves its index marked invalid, which IF NOT EXISTS then keeps and no
-- query may use: 0044 runs only once it is valid.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indexrelid = to_regclass('money_movements_customer_latest')
                     AND i.indrelid = 'money_movements'::regclass AND i.indisvalid) THEN
        RAISE EXCEPTION 'money_movements_customer_latest is missing or invalid (an interrupted build): drop it, run tally migrate force 41, and migrate again';
    END IF;
END $$;

COMMENT ON INDEX money_movements_customer_latest IS
    'prepaid.History: a customer''s movements, the latest first (occurred_at, then entry id), a page read in index order';
