-- 0049's index answers a reversal's question from now on. A CONCURRENTLY
-- build that was interrupted leaves its index marked invalid, which IF NOT
-- EXISTS then keeps and no query may use.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index i
                   WHERE i.indexrelid = to_regclass('money_movements_priced_since')
                     AND i.indrelid = 'money_movements'::regclass AND i.indisvalid) THEN
        RAISE EXCEPTION 'money_movements_priced_since is missing or invalid (an interrupted build): drop it, run tally migrate force 48, and migrate again';
    END IF;
END $$;

COMMENT ON INDEX money_movements_priced_since IS
    'prepaid.QPricedSince: a reversal''s later movements of the customer priced on its balances (withdrawals, charges that drew on rebate), not reversed';
