-- Loyalty: versioned rule sets, customers and their monthly contribution,
-- shipments, referral bonuses, campaigns and partner events.

ALTER TABLE entries ADD COLUMN rule_version integer;

CREATE TABLE rule_sets (
    version        integer PRIMARY KEY,
    effective_from timestamptz NOT NULL UNIQUE,
    document       jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL
);

CREATE TABLE customers (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name        text NOT NULL,
    referred_by text REFERENCES customers (id) CHECK (referred_by <> id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_referred_by ON customers (referred_by);

-- Contribution per customer and calendar month (in the rule set's zone).
CREATE TABLE customer_months (
    customer_id  text NOT NULL REFERENCES customers (id),
    month        text NOT NULL CHECK (month ~ '^[0-9]{4}-[0-9]{2}$'),
    contribution numeric NOT NULL DEFAULT 0 CHECK (contribution >= 0),
    shipments    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, month)
);

CREATE TABLE shipments (
    shipment_id     text PRIMARY KEY,
    customer_id     text NOT NULL REFERENCES customers (id),
    amount          numeric NOT NULL CHECK (amount > 0),
    refunded        numeric NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    occurred_at     timestamptz NOT NULL,
    month           text NOT NULL,
    points_volume   bigint NOT NULL,
    points_campaign bigint NOT NULL,
    -- Points taken back by refunds, and points that could not be taken back
    -- (the customer held too few) and were dropped.
    points_reversed bigint NOT NULL DEFAULT 0,
    points_dropped  bigint NOT NULL DEFAULT 0,
    rated_at        timestamptz,
    entry_id        bigint REFERENCES entries (id), -- NULL when it earned nothing
    rule_version    integer NOT NULL
);
CREATE INDEX shipments_customer ON shipments (customer_id);

CREATE TABLE referral_bonuses (
    referee_id   text PRIMARY KEY REFERENCES customers (id),
    referrer_id  text NOT NULL REFERENCES customers (id),
    shipment_id  text NOT NULL REFERENCES shipments (shipment_id),
    month        text NOT NULL,
    -- paid: credited, pending until available_at; capped: over the monthly
    -- cap, recorded and not paid; cancelled: taken back by a full refund.
    status       text NOT NULL CHECK (status IN ('paid', 'capped', 'cancelled')),
    points       bigint NOT NULL,
    available_at timestamptz NOT NULL,
    entry_id     bigint REFERENCES entries (id),
    cancel_entry_id bigint REFERENCES entries (id)
);
CREATE INDEX referral_bonuses_referrer ON referral_bonuses (referrer_id, month);
CREATE INDEX referral_bonuses_shipment ON referral_bonuses (shipment_id);

CREATE TABLE campaigns (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name       text NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    multiplier numeric NOT NULL CHECK (multiplier >= 1),
    segments   text[],
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_window ON campaigns (starts_at, ends_at);

-- Partner events, unique per partner key: the first result is kept and
-- answered again to a retry.
CREATE TABLE events (
    key_id       bigint NOT NULL REFERENCES api_keys (id),
    event_id     text NOT NULL,
    type         text NOT NULL,
    customer_id  text NOT NULL,
    request_hash bytea NOT NULL,
    result       jsonb NOT NULL,
    entry_id     bigint REFERENCES entries (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_id, event_id)
);
