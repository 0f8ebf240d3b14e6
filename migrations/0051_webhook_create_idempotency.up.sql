-- A webhook endpoint's create may carry an Idempotency-Key, so that a
-- retried create (its answer lost) answers the endpoint it made instead
-- of subscribing the URL a second time, each notice then sent twice. The
-- key (scoped to the caller's space and the operation, as the API writes
-- it) and the request's hash are kept with the endpoint, and go with it
-- when it is deleted. Both columns are new and NULL on every endpoint
-- there is, and the table holds at most a few endpoints per partner.
ALTER TABLE webhook_endpoints
    ADD COLUMN idempotency_key text,
    ADD COLUMN request_hash bytea,
    ADD CONSTRAINT webhook_endpoints_idempotency_pair CHECK ((idempotency_key IS NULL) = (request_hash IS NULL));

CREATE UNIQUE INDEX webhook_endpoints_idempotency_key ON webhook_endpoints (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

COMMENT ON INDEX webhook_endpoints_idempotency_key IS
    'webhook.Service.Create: the endpoint a create with this Idempotency-Key made (a retry''s answer), and the arbiter of a retry racing its original';
