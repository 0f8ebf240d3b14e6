-- Two foreign keys of the webhook tables cost every row written and
-- protect nothing:
-- - webhook_deliveries.notification_id: notifications are never updated
--   or deleted (their triggers refuse it), yet each delivery written
--   locked its notification's row (FOR KEY SHARE: a WAL record and a
--   dirtied page of notifications per delivery);
-- - webhook_attempts.delivery_id: deliveries are deleted only with their
--   endpoint, whose own cascade deletes the attempts; the second cascade,
--   through an unindexed column, scanned the whole log once per deleted
--   delivery (deleting an endpoint with 10,000 deliveries took seconds,
--   with a million it would take hours).
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_notification_id_fkey;
ALTER TABLE webhook_attempts DROP CONSTRAINT webhook_attempts_delivery_id_fkey;
