-- expect_rows fails the statement that calls it unless it found the rows it
-- must: a group's debits update their accounts' balance rows in one
-- statement (ledger/many.go), which would skip a row it did not find, and
-- so leave a debit unchecked against its balance. The statement counts the
-- rows it updated and fails, there and then, when one is missing: the check
-- runs in PostgreSQL, before the COMMIT that rides in the same round trip,
-- not in Go once the COMMIT has run.
CREATE FUNCTION expect_rows(p_found bigint, p_wanted integer, p_what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_found IS DISTINCT FROM p_wanted THEN
        RAISE EXCEPTION 'ledger: % of the % % found', p_found, p_wanted, p_what USING ERRCODE = 'no_data_found';
    END IF;
END
$$;
