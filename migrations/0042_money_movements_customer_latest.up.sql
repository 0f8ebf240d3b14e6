-- A customer's latest money movements (prepaid.History: the portal's
-- prepaid page, ORDER BY occurred_at DESC, entry_id DESC LIMIT 50) were
-- found by money_movements_customer (customer_id) alone: every movement of
-- the customer was read and sorted for the 50 shown. A shop charged once a
-- shipment has hundreds of thousands (300,000 charges: 88 to 124 ms a page,
-- a parallel scan of the table). This index holds them in the page's
-- order, so a page reads its 50; 0043 checks that it was built and names
-- its query, and 0044 drops money_movements_customer, whose one query this
-- serves: a movement enters as many indexes as before.
--
-- Built CONCURRENTLY (the statement alone in its file runs outside a
-- transaction): money movements are not held back while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS money_movements_customer_latest
    ON money_movements (customer_id, occurred_at DESC, entry_id DESC);
