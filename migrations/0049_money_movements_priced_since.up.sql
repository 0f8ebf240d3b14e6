-- A money movement's reversal waits while a later movement of the customer,
-- not itself reversed, was priced on the balances it would change
-- (prepaid.QPricedSince: a withdrawal, or a charge that drew on rebate).
-- Without an index the question read every movement of every customer
-- (a parallel scan: 50 ms at 500,000 movements, growing with the table)
-- while the reversal held the customer's lock. This index holds only the
-- movements the question asks about, by customer, kind and entry id, so
-- each arm of the question reads its first row (and the reversed ones
-- before it); a charge paid from principal alone (most of them) enters no
-- more indexes than before. The predicate leaves reversal_entry_id out: a
-- column an index names keeps every update of it from being HOT, and a
-- reversal sets it. 0050 checks that it was built and names its query.
--
-- Built CONCURRENTLY (the statement alone in its file runs outside a
-- transaction): money movements are not held back while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS money_movements_priced_since
    ON money_movements (customer_id, kind, entry_id)
    WHERE kind = 'withdrawal' OR (kind = 'charge' AND from_rebate > 0);
