-- When a delivery was marked failed, so that the delivery log's prune
-- (webhook.Service.Prune) deletes a failed delivery only once every
-- attempt of it is older than the cutoff. A delivery past its deadline is
-- still tried once more when it is due (expire), so its last attempt may
-- come after deliver_by: pruned by deliver_by, it would leave that attempt
-- without its delivery, and the log (whose queued attempts name only
-- their delivery) would no longer list it. A delivery failed before this
-- migration, or by a server of the release before during a rolling
-- upgrade, has none: the prune takes its deadline instead. Adding a
-- nullable column with no default rewrites nothing.
ALTER TABLE webhook_deliveries ADD COLUMN failed_at timestamptz;
COMMENT ON COLUMN webhook_deliveries.failed_at IS
    'when the delivery was marked failed (null while pending or delivered, and for deliveries failed before migration 0041)';
