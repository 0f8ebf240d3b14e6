DROP INDEX entries_reversal_of_key;
ALTER TABLE entries ADD CONSTRAINT entries_reversal_of_key UNIQUE (reversal_of);
DROP INDEX entries_idempotency_key_key;
ALTER TABLE entries ADD CONSTRAINT entries_idempotency_key_key UNIQUE (idempotency_key);
