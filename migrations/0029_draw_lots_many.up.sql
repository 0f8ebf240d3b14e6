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
    WITH asked AS (
        SELECT u.code, u.entry_id, u.amount,
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
        SELECT d.code, d.entry_id, l.id AS lot_id,
               least(d.start + d.amount, l.start + l.remaining) - greatest(d.start, l.start) AS take
        FROM asked d JOIN lots l ON l.code = d.code
        WHERE l.start < d.start + d.amount AND d.start < l.start + l.remaining
    ), updated AS (
        UPDATE points_lots p SET remaining = p.remaining - t.take
        FROM (SELECT lot_id, sum(take) AS take FROM takes GROUP BY lot_id) t WHERE p.id = t.lot_id
    ), drawn AS (
        INSERT INTO lot_draws (entry_id, lot_id, amount) SELECT entry_id, lot_id, take FROM takes
    )
    -- An entry the lots could not cover in full (pending or expired points
    -- are in the balance, not in the lots that can be spent).
    SELECT d.code, d.amount - coalesce(t.took, 0) AS lacking INTO short
    FROM asked d
    LEFT JOIN (SELECT code, entry_id, sum(take) AS took FROM takes GROUP BY code, entry_id) t
        ON t.code = d.code AND t.entry_id = d.entry_id
    WHERE d.amount > coalesce(t.took, 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% lacks % available points', short.code, short.lacking
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lots_available', DETAIL = short.code;
    END IF;
END;
$$;
