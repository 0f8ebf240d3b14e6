-- Points lots (what each credit of points is, when it becomes available and
-- when it expires), the draws every debit made on them, and the catalogue of
-- points products with its redemptions.

-- A lot is created by each credit to a customer's points account. Its
-- remaining amount goes down as debits draw on it (soonest expiry first) and
-- back up when a draw is undone (a cancelled redemption): a customer's points
-- balance is always the sum of their lots' remaining amounts.
CREATE TABLE points_lots (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id),
    entry_id     bigint NOT NULL REFERENCES entries (id),
    amount       bigint NOT NULL CHECK (amount > 0),
    remaining    bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    available_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL CHECK (expires_at > available_at),
    UNIQUE (entry_id, account_id)
);
CREATE INDEX points_lots_open ON points_lots (account_id, expires_at, id) WHERE remaining > 0;
CREATE INDEX points_lots_expiring ON points_lots (expires_at, account_id) WHERE remaining > 0;

-- Every debit of points records the lots it drew from (positive amounts);
-- undoing it records the same lots with negative amounts. So for each lot,
-- remaining = amount - sum(draws), and a point can never be spent or
-- expire twice.
CREATE TABLE lot_draws (
    entry_id bigint NOT NULL REFERENCES entries (id),
    lot_id   bigint NOT NULL REFERENCES points_lots (id),
    amount   bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (entry_id, lot_id)
);
CREATE INDEX lot_draws_lot ON lot_draws (lot_id);

-- draw_lots takes amount points from the account's lots for the entry being
-- posted: from the lots of entry from_entry (undoing a credit), or from the
-- lots expiring by expiring_by (expiry), or else from the lots available and
-- unexpired at p_now, soonest expiry first. The caller holds the account's
-- balance row lock, so no two draws on one account interleave and the
-- lots read are the lots updated.
CREATE FUNCTION draw_lots(p_code text, p_amount bigint, p_from_entry bigint, p_expiring_by timestamptz, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_entry   bigint := currval('entries_id_seq');
    v_account bigint := (SELECT id FROM accounts WHERE code = p_code);
    v_drawn   bigint;
BEGIN
    -- One set-based pass: each candidate lot, in draw order, gives what is
    -- still needed after the lots before it, up to its remaining amount.
    WITH candidates AS (
        SELECT id, remaining, sum(remaining) OVER (ORDER BY expires_at, id) - remaining AS before
        FROM points_lots
        WHERE account_id = v_account AND remaining > 0
          AND CASE
                WHEN p_from_entry IS NOT NULL THEN entry_id = p_from_entry
                WHEN p_expiring_by IS NOT NULL THEN expires_at <= p_expiring_by
                ELSE available_at <= p_now AND expires_at > p_now
              END
    ), takes AS (
        SELECT id, least(remaining, p_amount - before) AS take FROM candidates WHERE before < p_amount
    ), updated AS (
        UPDATE points_lots l SET remaining = l.remaining - t.take FROM takes t WHERE l.id = t.id
        RETURNING l.id, t.take
    ), drawn AS (
        INSERT INTO lot_draws (entry_id, lot_id, amount) SELECT v_entry, id, take FROM updated RETURNING amount
    )
    SELECT coalesce(sum(amount), 0) INTO v_drawn FROM drawn;
    IF v_drawn < p_amount THEN
        RAISE EXCEPTION '% lacks % available points', p_code, p_amount - v_drawn
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lots_available';
    END IF;
END;
$$;

-- restore_lots undoes the draws entry of_entry made on the account, for the
-- entry being posted: the points return to the lots they came from, with
-- their original expiry.
CREATE FUNCTION restore_lots(p_code text, p_amount bigint, p_of_entry bigint)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_entry   bigint := currval('entries_id_seq');
    v_account bigint := (SELECT id FROM accounts WHERE code = p_code);
    v_total   bigint;
BEGIN
    SELECT coalesce(sum(d.amount), 0) INTO v_total
    FROM lot_draws d JOIN points_lots l ON l.id = d.lot_id
    WHERE d.entry_id = p_of_entry AND l.account_id = v_account;
    IF v_total <> p_amount THEN
        RAISE EXCEPTION 'entry % drew % points from %, not %', p_of_entry, v_total, p_code, p_amount
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lots_restore';
    END IF;
    UPDATE points_lots l SET remaining = l.remaining + d.amount
    FROM lot_draws d WHERE d.entry_id = p_of_entry AND d.lot_id = l.id AND l.account_id = v_account;
    INSERT INTO lot_draws (entry_id, lot_id, amount)
    SELECT v_entry, d.lot_id, -d.amount
    FROM lot_draws d JOIN points_lots l ON l.id = d.lot_id
    WHERE d.entry_id = p_of_entry AND l.account_id = v_account;
END;
$$;

CREATE TABLE products (
    sku                text PRIMARY KEY CHECK (sku ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name               text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('standard', 'level', 'featured')),
    points_price       bigint NOT NULL CHECK (points_price > 0),
    min_level          integer CHECK (min_level BETWEEN 1 AND 1000),
    valid_from         timestamptz,
    valid_until        timestamptz,
    stock              integer CHECK (stock >= 0),
    per_customer_limit integer CHECK (per_customer_limit > 0),
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'level' OR min_level IS NOT NULL),
    CHECK (kind <> 'featured' OR (valid_from IS NOT NULL AND valid_until > valid_from AND stock IS NOT NULL)),
    CHECK (kind = 'featured' OR (valid_from IS NULL AND valid_until IS NULL AND stock IS NULL AND per_customer_limit IS NULL)),
    CHECK (kind <> 'standard' OR min_level IS NULL)
);

CREATE TABLE redemptions (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    customer_id     text NOT NULL REFERENCES customers (id),
    sku             text NOT NULL REFERENCES products (sku),
    quantity        integer NOT NULL CHECK (quantity > 0),
    points          bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    request_hash    bytea NOT NULL,
    entry_id        bigint REFERENCES entries (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at    timestamptz,
    cancel_entry_id bigint REFERENCES entries (id)
);
CREATE INDEX redemptions_customer_sku ON redemptions (customer_id, sku) WHERE cancelled_at IS NULL;

-- A customer's statement pages through the entries of their accounts.
CREATE INDEX postings_account_entry ON postings (account_id, entry_id);
