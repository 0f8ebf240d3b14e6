-- draw_lots_many draws, for many entries at once, what draw_lots draws for
-- one: each entry's points from its account's lots available and
-- unexpired at p_now, soonest expiry first (then the older lot), the
-- entries of one account in the order given, each from what the ones
-- before it left. The caller holds the accounts' balance row locks.
--
-- Set-based: the open lots of an account laid end to end in draw order
-- make a line of points; the entries' amounts, end to end in their order,
-- make another from the same start; an entry takes from each lot the
-- overlap of their stretches. One pass whatever the number of entries.
CREATE FUNCTION draw_lots_many(p_codes text[], p_entries bigint[], p_amounts bigint[], p_now timestamptz)
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
