-- Credits that are available at once share a lot. Until now every credit
-- of points opened a lot of its own: a row and four index entries per
-- shipment, and a customer who ships daily held hundreds of lots. Points
-- available at once and expiring at the same instant cannot be told apart
-- by any draw (soonest expiry first), any expiry run or any summary, so
-- such credits now add to one lot per account and expiry instant (the
-- expiry is the end of a month: about 13 lots per customer). A credit
-- not available yet (a pending referral bonus) still opens a lot of its
-- own, found by its entry, as before.
--
-- Exact as before:
--   * a draw records the lot it took from (lot_draws); a cancellation
--     returns the points to it, with its expiry, whatever was credited to
--     it since;
--   * a credit that went into a shared lot names it in its posting
--     (postings.lot_id), so undoing the credit (a reversal, a cancelled
--     referral bonus) takes its points from that lot, at most what the
--     credit gave;
--   * a lot's amount is what the credits that went into it gave (a
--     reconciliation check), its remaining that amount less its draws.
--
-- A credit into a shared lot is an update of its row that changes no
-- indexed value, so PostgreSQL writes it as a heap-only tuple: no index
-- entry. Hence no index may name remaining, not even in a predicate: the
-- open lots are told by open, a column generated from it, which changes
-- only when a lot is emptied or refilled. points_lots_open_covering read a
-- customer's hundreds of lots from the index alone; a summary now reads
-- their few lots from the heap.
--
-- The generated column rewrites points_lots under its ACCESS EXCLUSIVE
-- lock (credits, draws and summaries of points wait meanwhile): 10 s for
-- 1,000,000 lots with their indexes, on the 2-core bench machine. The pages written from now on are left half empty, so
-- that a shared lot's next version fits beside it.
-- (IF NOT EXISTS: rolled back, this migration leaves the three columns,
-- which hold what no other row says.)
ALTER TABLE points_lots
    ADD COLUMN IF NOT EXISTS shared boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS open boolean GENERATED ALWAYS AS (remaining > 0) STORED;
ALTER TABLE points_lots SET (fillfactor = 50);
-- No foreign key, as for the postings' account and entry (0005): the
-- reconciliation checks that each names a shared lot of its account.
ALTER TABLE postings ADD COLUMN IF NOT EXISTS lot_id bigint;

CREATE UNIQUE INDEX points_lots_shared ON points_lots (account_id, expires_at) WHERE shared;
CREATE INDEX points_lots_open ON points_lots (account_id, expires_at, id) WHERE open;
CREATE INDEX points_lots_open_by_expiry ON points_lots (expires_at, account_id) WHERE open;
DROP INDEX points_lots_open_covering;
DROP INDEX points_lots_expiring;

COMMENT ON INDEX points_lots_shared IS
    'unique: one shared lot per account and expiry instant; the arbiter of a credit''s upsert (ledger.Post, PostMany), the lookup of the lot a credit''s posting names';
COMMENT ON INDEX points_lots_open IS
    'an account''s open lots by expiry: Tx.LotSummary, QueueHoldings, QueueAvailablePoints, Tx.ExpiringLots, draw_lots_many''s walk, draw_lots'' candidates to expire or undo';
COMMENT ON INDEX points_lots_open_by_expiry IS
    'open lots by expiry across accounts: Tx.ExpiringPoints (the points.expiring notices), ledger.ExpiringAccounts (the expiry run)';
COMMENT ON INDEX points_lots_entry_id_account_id_key IS
    'unique: one lot opened per credit per account. Tx.LotRemaining and draw_lots undoing a credit: the lot of its own an entry opened';

CREATE OR REPLACE FUNCTION draw_lots_many(p_codes text[], p_entries bigint[], p_amounts bigint[], p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    -- An account's open lots in draw order (soonest expiry, then the older
    -- lot). A cursor is planned to deliver its first rows soon: an ordered
    -- probe of points_lots_open, read only as far as fetched.
    open_lots CURSOR (p_account bigint) FOR
        SELECT id, remaining FROM points_lots
        WHERE account_id = p_account AND open AND available_at <= p_now AND expires_at > p_now
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
        WHERE account_id = v_account AND open
          AND CASE
                -- the lot of its own the credit opened, or the shared lot
                -- its posting names
                WHEN p_from_entry IS NOT NULL THEN
                    (entry_id = p_from_entry AND NOT shared)
                    OR id = (SELECT lot_id FROM postings WHERE entry_id = p_from_entry AND account_id = v_account)
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
