DROP INDEX CONCURRENTLY IF EXISTS money_movements_priced_since;
