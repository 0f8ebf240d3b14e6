-- Back to 0035's indexes and draws. The columns stay: postings.lot_id is
-- the only record of which shared lot a credit went into (without it the
-- books could not explain a shared lot's amount, nor undo a credit), and
-- points_lots.shared and open go with it. A server of 0035 writes lots of
-- their own beside them (shared false, lot_id NULL); it cannot undo a
-- credit that joined a shared lot another entry opened (no lot of its
-- entry: refused as points lacking, or owed in full for a referral bonus). Applied again,
-- 0036 finds the columns and keeps them.
DROP INDEX points_lots_shared;
DROP INDEX points_lots_open;
DROP INDEX points_lots_open_by_expiry;
ALTER TABLE points_lots RESET (fillfactor);
CREATE INDEX points_lots_open_covering ON points_lots (account_id, expires_at, id)
    INCLUDE (available_at, remaining) WHERE remaining > 0;
CREATE INDEX points_lots_expiring ON points_lots (expires_at, account_id) WHERE remaining > 0;
COMMENT ON INDEX points_lots_entry_id_account_id_key IS
    'unique: one lot per credit per account. Tx.LotRemaining; draw_lots undoing a credit (the lots of one entry)';
COMMENT ON INDEX points_lots_open_covering IS
    'an account''s open lots by expiry: Tx.LotSummary and QueueHoldings (from the index alone), Tx.ExpiringLots, draw_lots'' candidates to spend or expire';
COMMENT ON INDEX points_lots_expiring IS
    'open lots by expiry across accounts: Tx.ExpiringPoints (the points.expiring notices), ledger.ExpiringAccounts (the expiry run)';

CREATE OR REPLACE FUNCTION draw_lots_many(p_codes text[], p_entries bigint[], p_amounts bigint[], p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    -- An account's open lots in draw order (soonest expiry, then the older
    -- lot). A cursor is planned to deliver its first rows soon: an ordered
    -- probe of points_lots_open_covering, read only as far as fetched.
    open_lots CURSOR (p_account bigint) FOR
        SELECT id, remaining FROM points_lots
        WHERE account_id = p_account AND remaining > 0 AND available_at <= p_now AND expires_at > p_now
        ORDER BY expires_at, id;
    acct      record;
    lot       record;
    laid      numeric;
    lot_codes text[] := '{}';
    lot_ids   bigint[] := '{}';
    lot_left  bigint[] := '{}';
    lot_start numeric[] := '{}';
    short     record;
BEGIN
    -- Every line asks a positive amount of an account for an entry: a
    -- line missing any of them (arrays of different lengths) or asking
    -- nothing or less would otherwise draw nothing, silently.
    IF cardinality(p_codes) <> cardinality(p_entries) OR cardinality(p_codes) <> cardinality(p_amounts)
       OR EXISTS (SELECT FROM unnest(p_codes, p_entries, p_amounts) AS u (code, entry_id, amount)
                  WHERE u.code IS NULL OR u.entry_id IS NULL OR u.amount IS NULL OR u.amount <= 0) THEN
        RAISE EXCEPTION 'draw_lots_many: each line needs an account, an entry and a positive amount'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The open lots of an account laid end to end in draw order make a line
    -- of points; the entries' amounts, end to end in their order, make
    -- another from the same start; an entry takes from each lot the overlap
    -- of their stretches. Lots are laid only up to the end of what the
    -- account's entries ask: a lot past it overlaps nothing.
    -- (Each account looked up by its code, whatever the plan guesses of the
    -- arrays: OFFSET 0 keeps the lookup from being flattened into a join.)
    FOR acct IN SELECT c.code, a.id, c.need
                FROM (SELECT u.code, sum(u.amount) AS need FROM unnest(p_codes, p_amounts) AS u (code, amount) GROUP BY u.code) c
                CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = c.code OFFSET 0) a
    LOOP
        laid := 0;
        -- NULL, so that the cursor's portal gets a name of its own: on
        -- PostgreSQL 15 it would otherwise be named open_lots, and fail
        -- beside any cursor of that name open in the session.
        open_lots := NULL;
        FOR lot IN open_lots(acct.id) LOOP
            lot_codes := lot_codes || acct.code;
            lot_ids := lot_ids || lot.id;
            lot_left := lot_left || lot.remaining;
            lot_start := lot_start || laid;
            laid := laid + lot.remaining;
            EXIT WHEN laid >= acct.need;
        END LOOP;
    END LOOP;
    WITH asked AS (
        SELECT u.ord, u.code, u.entry_id, u.amount,
               sum(u.amount) OVER (PARTITION BY u.code ORDER BY u.ord) - u.amount AS start
        FROM unnest(p_codes, p_entries, p_amounts) WITH ORDINALITY AS u (code, entry_id, amount, ord)
    ), lots AS (
        SELECT * FROM unnest(lot_codes, lot_ids, lot_left, lot_start) AS l (code, id, remaining, start)
    ), takes AS (
        SELECT d.ord, d.code, d.entry_id, l.id AS lot_id,
               least(d.start + d.amount, l.start + l.remaining) - greatest(d.start, l.start) AS take
        FROM asked d JOIN lots l ON l.code = d.code
        WHERE l.start < d.start + d.amount AND d.start < l.start + l.remaining
    ), updated AS (
        UPDATE points_lots p SET remaining = p.remaining - t.take
        FROM (SELECT lot_id, sum(take) AS take FROM takes GROUP BY lot_id) t WHERE p.id = t.lot_id
    ), drawn AS (
        -- One draw per entry and lot, should two lines of an entry meet in one.
        INSERT INTO lot_draws (entry_id, lot_id, amount) SELECT entry_id, lot_id, sum(take) FROM takes GROUP BY entry_id, lot_id
    )
    -- A line the lots could not cover in full (pending or expired points
    -- are in the balance, not in the lots that can be spent): each line
    -- against what it took itself, not what its entry's lines took.
    SELECT d.code, d.amount - coalesce(t.took, 0) AS lacking INTO short
    FROM asked d
    LEFT JOIN (SELECT ord, sum(take) AS took FROM takes GROUP BY ord) t ON t.ord = d.ord
    WHERE d.amount > coalesce(t.took, 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% lacks % available points', short.code, short.lacking
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lots_available', DETAIL = short.code;
    END IF;
END;
$$;

-- draw_lots, for one entry: a spend (neither a lot to draw from nor an
-- expiry instant) walks the lots as draw_lots_many does; undoing a credit
-- (its own lot) and expiring (every lot expired by then) read what they
-- take anyway, as before.
CREATE OR REPLACE FUNCTION draw_lots(p_code text, p_amount bigint, p_from_entry bigint, p_expiring_by timestamptz, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_entry   bigint := currval('entries_id_seq');
    v_account bigint;
    v_drawn   bigint;
BEGIN
    IF p_from_entry IS NULL AND p_expiring_by IS NULL THEN
        IF p_amount > 0 THEN -- nothing asked draws nothing, as before
            PERFORM draw_lots_many(ARRAY[p_code], ARRAY[v_entry], ARRAY[p_amount], p_now);
        END IF;
        RETURN;
    END IF;
    v_account := (SELECT id FROM accounts WHERE code = p_code);
    -- One set-based pass: each candidate lot, in draw order, gives what is
    -- still needed after the lots before it, up to its remaining amount.
    WITH candidates AS (
        SELECT id, remaining, sum(remaining) OVER (ORDER BY expires_at, id) - remaining AS before
        FROM points_lots
        WHERE account_id = v_account AND remaining > 0
          AND CASE
                WHEN p_from_entry IS NOT NULL THEN entry_id = p_from_entry
                ELSE expires_at <= p_expiring_by
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
