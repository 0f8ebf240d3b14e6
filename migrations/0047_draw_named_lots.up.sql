-- draw_named_lots: a debit that takes exactly the points named from each
-- lot named, expired or not (a settlement of points owed from points a
-- cancelled redemption returned into lots that had expired: those lots,
-- not the account's other expired ones). Every lot must be the account's
-- and hold what is asked of it, and no lot is named twice; else nothing
-- is drawn and the statement fails as draw_lots does.
CREATE FUNCTION draw_named_lots(p_code text, p_lots bigint[], p_points bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_entry   bigint := currval('entries_id_seq');
    v_account bigint := (SELECT id FROM accounts WHERE code = p_code);
    v_drawn   bigint;
BEGIN
    IF coalesce(cardinality(p_lots), 0) = 0 OR cardinality(p_lots) IS DISTINCT FROM cardinality(p_points)
       OR EXISTS (SELECT FROM unnest(p_lots, p_points) AS u (lot_id, points) WHERE u.lot_id IS NULL OR u.points IS NULL OR u.points <= 0)
       OR (SELECT count(DISTINCT l) FROM unnest(p_lots) AS l) <> cardinality(p_lots) THEN
        RAISE EXCEPTION 'draw_named_lots: each lot named once, with a positive number of points'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH taken AS (
        UPDATE points_lots l SET remaining = l.remaining - u.points
        FROM unnest(p_lots, p_points) AS u (lot_id, points)
        WHERE l.id = u.lot_id AND l.account_id = v_account AND l.remaining >= u.points
        RETURNING l.id, u.points
    ), drawn AS (
        INSERT INTO lot_draws (entry_id, lot_id, amount) SELECT v_entry, id, points FROM taken RETURNING 1
    )
    SELECT count(*) INTO v_drawn FROM drawn;
    IF v_drawn <> cardinality(p_lots) THEN
        RAISE EXCEPTION '% does not hold the points named of lots %', p_code, p_lots
            USING ERRCODE = 'check_violation', CONSTRAINT = 'lots_available';
    END IF;
END;
$$;
