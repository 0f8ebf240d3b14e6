-- The attempts recorded without a delivery, by endpoint and notification:
-- a redelivery counts them, so that its attempts number on from theirs.
-- Built CONCURRENTLY (the statement alone in its file runs outside a
-- transaction), so writers of the log are not held back while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_attempts_lone ON webhook_attempts (endpoint_id, notification_id)
    WHERE delivery_id IS NULL;
