-- Back to 0043: the index of a customer's movements, built CONCURRENTLY
-- (money movements are not held back). Its comment is 0043's down.
CREATE INDEX CONCURRENTLY IF NOT EXISTS money_movements_customer ON money_movements (customer_id);
