-- money_movements_customer (customer_id) served prepaid.History alone,
-- which 0042's index serves in its order now.
--
-- Dropped CONCURRENTLY (the statement alone in its file runs outside a
-- transaction): it waits for the transactions that use the index, and
-- holds no reader or writer of money movements back meanwhile.
DROP INDEX CONCURRENTLY IF EXISTS money_movements_customer;
