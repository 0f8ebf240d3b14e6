-- Webhook delivery of notifications (package notify/webhook): the endpoints
-- partners and admins subscribe, one delivery per endpoint and notification,
-- and the log of every attempt to send one.

-- An endpoint: where to send, which types, the secret that signs them, and
-- its circuit breaker. partner_id null is an admin's endpoint (it hears
-- every notification); otherwise that partner's (it does not hear the
-- notifications meant for another partner only).
CREATE TABLE webhook_endpoints (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partner_id           bigint REFERENCES partners (id),
    url                  text NOT NULL CHECK (url ~ '^https?://'),
    types                text[] NOT NULL CHECK (cardinality(types) > 0),
    description          text NOT NULL DEFAULT '',
    secret               text NOT NULL CHECK (secret LIKE 'whsec\_%'),
    -- The secret before the last rotation, which also signs until
    -- previous_valid_until.
    previous_secret      text,
    previous_valid_until timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    -- The circuit breaker: failures in a row; open means paused, with one
    -- probe at a time from probe_at on (probe_until: the probe in flight).
    failures             int NOT NULL DEFAULT 0,
    circuit              text NOT NULL DEFAULT 'closed' CHECK (circuit IN ('closed', 'open')),
    opened_at            timestamptz,
    probe_at             timestamptz,
    probe_until          timestamptz,
    CHECK ((previous_secret IS NULL) = (previous_valid_until IS NULL))
);
CREATE INDEX webhook_endpoints_partner ON webhook_endpoints (partner_id);

-- A delivery: one notification to one endpoint, pending until a 2xx answer
-- (delivered) or until its deliver_by passes (failed; a redelivery makes it
-- pending again). ntf_xid and notification_id order a customer's
-- notifications as the feed does; lease_until and lease mark a send in
-- flight, so no two processes send it at once.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    notification_id bigint NOT NULL REFERENCES notifications (id),
    ntf_xid         xid8 NOT NULL,
    customer_id     text,
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    deliver_by      timestamptz NOT NULL,
    delivered_at    timestamptz,
    lease_until     timestamptz,
    lease           bigint,
    UNIQUE (endpoint_id, notification_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, customer_id, ntf_xid, notification_id)
    WHERE status = 'pending';

-- Every attempt to send a delivery, as it went.
CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    endpoint_id bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    attempt     int NOT NULL,
    at          timestamptz NOT NULL,
    status_code int,                -- the answer's HTTP status; null when none came
    error       text,               -- why it failed, when it did
    latency_ms  int NOT NULL,
    response    text NOT NULL DEFAULT '' CHECK (octet_length(response) <= 1024),
    probe       boolean NOT NULL DEFAULT false
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);

-- The dispatcher's position in the notification feed (notify.Cursor's text
-- form): every notification before it has its deliveries. One row.
CREATE TABLE webhook_feed (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    cursor text NOT NULL
);
INSERT INTO webhook_feed (cursor) VALUES ('0');
