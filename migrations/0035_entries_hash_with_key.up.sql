-- An entry stores the hash of its request only when it has an idempotency
-- key: the hash is read only by a retry of that key (ledger.Post's replay),
-- to tell the same request from another. An entry without a key (every
-- entry of a group: a shipment's, whose event row already stores the
-- request's hash, a grouped deposit's or redemption's) stores NULL, 33
-- bytes a row fewer and no digest to compute. The rows written before keep
-- theirs: entries are never updated.
ALTER TABLE entries ALTER COLUMN request_hash DROP NOT NULL,
    ADD CONSTRAINT entries_key_has_hash CHECK (idempotency_key IS NULL OR request_hash IS NOT NULL);
