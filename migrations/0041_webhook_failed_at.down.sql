ALTER TABLE webhook_deliveries DROP COLUMN failed_at;
