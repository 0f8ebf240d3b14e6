-- The pages' sign-in: one-time portal links a partner asks for on behalf of
-- one customer, and the server-side sessions of the customer portal and the
-- finance console. Only SHA-256 hashes of the secrets are stored: a copy of
-- the table lets no one in.
CREATE TABLE portal_links (
    token_hash  bytea PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    key_id      bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CHECK (expires_at > created_at)
);

CREATE TABLE web_sessions (
    id_hash      bytea PRIMARY KEY,
    -- portal: a customer's; console: finance's or an admin's.
    kind         text NOT NULL CHECK (kind IN ('portal', 'console')),
    customer_id  text REFERENCES customers (id),
    key_id       bigint NOT NULL,
    role         text NOT NULL,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    CHECK ((kind = 'portal') = (customer_id IS NOT NULL))
);
CREATE INDEX web_sessions_customer ON web_sessions (customer_id) WHERE customer_id IS NOT NULL;
