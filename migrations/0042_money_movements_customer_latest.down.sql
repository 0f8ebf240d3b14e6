DROP INDEX CONCURRENTLY IF EXISTS money_movements_customer_latest;
