-- A notification accepted at the first try of its page's send is recorded
-- as its attempt alone: its delivery row (created delivered, never read
-- again) cost a row and two index entries per notification and endpoint.
-- Such an attempt names its notification instead of a delivery; a
-- delivery row is written only for what must wait or be tried again (and
-- by a redelivery, whose row then says where the notification stands).
ALTER TABLE webhook_attempts
    ALTER COLUMN delivery_id DROP NOT NULL,
    ADD COLUMN notification_id bigint,
    ADD CONSTRAINT webhook_attempts_of CHECK (delivery_id IS NOT NULL OR notification_id IS NOT NULL) NOT VALID;
ALTER TABLE webhook_attempts VALIDATE CONSTRAINT webhook_attempts_of;
COMMENT ON COLUMN webhook_attempts.notification_id IS
    'the notification sent (set on attempts written since migration 0025); without delivery_id, the attempt was accepted and has no delivery row';
