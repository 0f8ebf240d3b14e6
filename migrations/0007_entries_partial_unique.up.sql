-- Most entries have neither an idempotency key (events keep their own) nor
-- a reversal: their unique indexes held a NULL for every entry, two index
-- insertions per entry for nothing. Partial unique indexes, under the same
-- names (the ledger maps violations by name), index only the entries that
-- have one.
ALTER TABLE entries DROP CONSTRAINT entries_idempotency_key_key;
CREATE UNIQUE INDEX entries_idempotency_key_key ON entries (idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE entries DROP CONSTRAINT entries_reversal_of_key;
CREATE UNIQUE INDEX entries_reversal_of_key ON entries (reversal_of) WHERE reversal_of IS NOT NULL;
