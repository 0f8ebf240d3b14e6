-- The double-entry ledger: assets, accounts, append-only entries and postings,
-- and the stored balances that make reads O(1).

CREATE TABLE assets (
    code  text PRIMARY KEY,
    scale integer NOT NULL CHECK (scale BETWEEN 0 AND 8)
);
INSERT INTO assets (code, scale) VALUES ('PTS', 0), ('CNY', 2);

CREATE TABLE accounts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code           text NOT NULL UNIQUE CHECK (code ~ '^[a-z]+(:[A-Za-z0-9_.-]+)+$'),
    asset          text NOT NULL REFERENCES assets (code),
    allow_negative boolean NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, asset)
);

CREATE TABLE entries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind <> ''),
    effective_at    timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    idempotency_key text UNIQUE,
    request_hash    bytea NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}',
    actor           text NOT NULL,
    reason          text NOT NULL DEFAULT '',
    reversal_of     bigint UNIQUE REFERENCES entries (id)
);

CREATE TABLE postings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id      bigint NOT NULL REFERENCES entries (id),
    account_id    bigint NOT NULL,
    asset         text NOT NULL,
    amount        numeric NOT NULL CHECK (amount <> 0),
    -- The account's balance right after this posting, for accounts that may
    -- not go negative (their balance row is locked, so the order is exact).
    -- NULL for hot accounts, whose balance after is derived on read.
    balance_after numeric,
    effective_at  timestamptz NOT NULL,
    FOREIGN KEY (account_id, asset) REFERENCES accounts (id, asset),
    UNIQUE (entry_id, account_id)
);
CREATE INDEX postings_account_id ON postings (account_id, id) INCLUDE (amount);
CREATE INDEX postings_account_effective ON postings (account_id, effective_at) INCLUDE (amount);

-- Stored balances. An account that may not go negative has exactly one row
-- (bucket 0), updated under its row lock, and the CHECK makes a negative
-- balance impossible whatever the application does. A hot account (one that
-- may go negative: the platform side of nearly every entry) spreads its
-- balance over many bucket rows; an entry adds to one of them at random, so
-- concurrent entries rarely wait for each other. Its balance is the sum of
-- its buckets: a bounded number of rows.
CREATE TABLE balance_buckets (
    account_id     bigint NOT NULL REFERENCES accounts (id),
    bucket         smallint NOT NULL,
    allow_negative boolean NOT NULL,
    balance        numeric NOT NULL,
    PRIMARY KEY (account_id, bucket),
    CONSTRAINT balance_nonnegative CHECK (allow_negative OR balance >= 0),
    CONSTRAINT single_bucket_when_constrained CHECK (allow_negative OR bucket = 0)
);

-- Entries and postings are append-only: corrections are new entries.
CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- The postings of an entry are inserted by one statement, and that statement
-- must balance per entry and asset and respect each asset's scale.
CREATE FUNCTION check_postings_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.entry_id, n.asset, sum(n.amount) AS total INTO bad
    FROM new_postings n
    GROUP BY n.entry_id, n.asset
    HAVING sum(n.amount) <> 0
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % does not balance in %: sum %', bad.entry_id, bad.asset, bad.total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'entry_balances';
    END IF;
    SELECT n.entry_id, n.asset INTO bad
    FROM new_postings n JOIN assets a ON a.code = n.asset
    WHERE n.amount <> round(n.amount, a.scale)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % has an amount finer than the scale of %', bad.entry_id, bad.asset
            USING ERRCODE = 'check_violation', CONSTRAINT = 'amount_scale';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER postings_balance AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION check_postings_balance();

-- API keys: only a SHA-256 of each key is stored (keys are 256-bit random, so
-- a fast hash is enough and lookups stay one index probe).
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    role        text NOT NULL CHECK (role IN ('admin', 'partner', 'finance', 'customer')),
    customer_id text,
    key_hash    bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'customer') = (customer_id IS NOT NULL))
);
