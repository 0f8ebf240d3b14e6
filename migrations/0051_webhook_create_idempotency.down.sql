-- Dropping the columns drops their index and check; the endpoints stay.
ALTER TABLE webhook_endpoints DROP COLUMN idempotency_key, DROP COLUMN request_hash;
