CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
DROP INDEX webhook_deliveries_endpoint_due;
DROP INDEX webhook_deliveries_leased;
DROP INDEX webhook_deliveries_deadline;
