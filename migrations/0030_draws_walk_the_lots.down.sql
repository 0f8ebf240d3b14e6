-- Back to 0029's draw_lots_many and 0003's draw_lots: each reads every open lot of the account.
CREATE OR REPLACE FUNCTION draw_lots_many(p_codes text[], p_entries bigint[], p_amounts bigint[], p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    short record;
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
    WITH asked AS (
        SELECT u.ord, u.code, u.entry_id, u.amount,
               sum(u.amount) OVER (PARTITION BY u.code ORDER BY u.ord) - u.amount AS start
        FROM unnest(p_codes, p_entries, p_amounts) WITH ORDINALITY AS u (code, entry_id, amount, ord)
    ), accounts_asked AS (
        SELECT a.code, a.id FROM (SELECT DISTINCT code FROM asked) c
        CROSS JOIN LATERAL (SELECT code, id FROM accounts WHERE code = c.code OFFSET 0) a
    ), lots AS (
        SELECT a.code, l.id, l.remaining,
               sum(l.remaining) OVER (PARTITION BY a.code ORDER BY l.expires_at, l.id) - l.remaining AS start
        FROM accounts_asked a
        CROSS JOIN LATERAL (SELECT id, remaining, expires_at FROM points_lots
                            WHERE account_id = a.id AND remaining > 0 AND available_at <= p_now AND expires_at > p_now
                            OFFSET 0) l
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

CREATE OR REPLACE FUNCTION draw_lots(p_code text, p_amount bigint, p_from_entry bigint, p_expiring_by timestamptz, p_now timestamptz)
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
