-- Every attempt without a delivery gets one, delivered at its attempt.
INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, attempts,
    created_at, next_attempt_at, deliver_by, delivered_at)
SELECT DISTINCT ON (a.endpoint_id, a.notification_id) a.endpoint_id, a.notification_id, n.xid, n.customer_id,
    'delivered', 1, a.at, a.at, a.at, a.at
FROM webhook_attempts a
JOIN notifications n ON n.id = a.notification_id
WHERE a.delivery_id IS NULL
ORDER BY a.endpoint_id, a.notification_id, a.id
ON CONFLICT (endpoint_id, notification_id) DO NOTHING;
UPDATE webhook_attempts a SET delivery_id = d.id
FROM webhook_deliveries d
WHERE a.delivery_id IS NULL AND d.endpoint_id = a.endpoint_id AND d.notification_id = a.notification_id;
ALTER TABLE webhook_attempts
    DROP CONSTRAINT webhook_attempts_of,
    DROP COLUMN notification_id,
    ALTER COLUMN delivery_id SET NOT NULL;
