ALTER TABLE webhook_feed DROP COLUMN lease, DROP COLUMN lease_until;
