-- The outbox of what Tally tells partners (package notify): one row per
-- notification, written in the transaction of what it announces, so a
-- notification exists exactly when its cause committed. Rows are never
-- updated or deleted. xid orders them by commit for the pull feed and the
-- webhook dispatcher (the horizon of ledger statements, ledger.Tx.Horizon).
CREATE TABLE notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    customer_id text,                         -- null for notices about no one customer
    partner_id  bigint,                       -- set when only this partner may hear it
    occurred_at timestamptz NOT NULL,
    payload     json NOT NULL,                -- kept as written (never queried inside)
    -- once_key makes a notice at most once (points.expiring for a customer,
    -- an expiry instant and a lead time); null for the others.
    once_key    text UNIQUE
);
CREATE INDEX notifications_order ON notifications (xid, id);

CREATE TRIGGER notifications_append_only BEFORE UPDATE OR DELETE ON notifications
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER notifications_no_truncate BEFORE TRUNCATE ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
