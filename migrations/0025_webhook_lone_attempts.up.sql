-- A notification accepted at the first try of its page's send is recorded
-- as its attempt alone: its delivery row (created delivered, never read
-- again) cost a row and two index entries per notification and endpoint.
-- An attempt written by a page now names its notification; a delivery row
-- is written only for what must wait or be tried again (and by a
-- redelivery, whose row then says where the notification stands).
--
-- The CHECK is NOT VALID: the rows written before all have a delivery (the
-- NOT NULL dropped here held them to it), and validating it would scan the
-- whole log under this migration's exclusive lock. New rows are checked.
-- During a rolling upgrade a server of the release before shows, in its
-- delivery log, only the attempts that have a delivery row.
ALTER TABLE webhook_attempts
    ALTER COLUMN delivery_id DROP NOT NULL,
    ADD COLUMN notification_id bigint,
    ADD CONSTRAINT webhook_attempts_of CHECK (delivery_id IS NOT NULL OR notification_id IS NOT NULL) NOT VALID;
COMMENT ON COLUMN webhook_attempts.notification_id IS
    'the notification sent, on attempts written by a page since migration 0025; without delivery_id, the page recorded no delivery for it: accepted, or (when a redelivery had written one meanwhile) that delivery''s';
