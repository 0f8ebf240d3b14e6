-- The dispatcher's claims, and its expiry of deliveries past their
-- deadline, read only what they take. An endpoint whose circuit is open
-- keeps every notification it hears as a pending delivery, due, until it
-- answers again or their deadline passes (millions within hours of a
-- partner's outage); every claim (one a second at least) read them all in
-- due order to find the few of closed endpoints it could send, its count
-- of each owner's sends in flight read every pending delivery, and so did
-- the expiry at every poll. (A claim of 3 deliveries behind 300,000 of a
-- dead endpoint: 1.3 s; the expiry: 50 ms.)
--   * webhook_deliveries_endpoint_due replaces webhook_deliveries_due: a
--     claim reads each closed endpoint's due deliveries in its own order.
--   * webhook_deliveries_leased: the deliveries in flight (a lease is
--     cleared when its send is recorded, so only those in flight and those
--     of a process that died meanwhile are in it).
--   * webhook_deliveries_deadline: the pending deliveries by deadline.
-- None is written on the path of a notification accepted at its first
-- send, which leaves no delivery row.
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_until) WHERE status = 'pending' AND lease_until IS NOT NULL;
CREATE INDEX webhook_deliveries_deadline ON webhook_deliveries (deliver_by) WHERE status = 'pending';
DROP INDEX webhook_deliveries_due;

COMMENT ON INDEX webhook_deliveries_endpoint_due IS
    'queueClaim: each closed endpoint''s due deliveries, oldest first; a probe''s first delivery of an open endpoint; an endpoint moved to a new URL, its retries due at once';
COMMENT ON INDEX webhook_deliveries_leased IS
    'the sends in flight, by owner: queueClaim''s busy, fanOutDirect''s room (match)';
COMMENT ON INDEX webhook_deliveries_deadline IS
    'expire: the pending deliveries past their deadline';
