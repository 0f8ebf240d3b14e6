-- A close reads its figures before it holds writers back, and records
-- itself (its period_closes row and the balances it keeps) before it takes
-- its lock on entries. Under the lock, entries back-dated into the month
-- meanwhile change a few accounts' closing balances: the transaction that
-- inserted the close may replace those accounts' kept balances, before it
-- commits. Any other transaction still may not delete a closed month's
-- balances: only its reopening does (the foreign key's cascade, once the
-- period_closes row is gone). A close's transaction inserts its row outside
-- any savepoint, so the row's xmin is the transaction's own id.
CREATE OR REPLACE FUNCTION period_balances_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM period_closes c WHERE c.ends_at = OLD.ends_at
               AND c.xmin::text IS DISTINCT FROM pg_current_xact_id_if_assigned()::xid::text) THEN
        RAISE EXCEPTION 'period_balances: the balances of a closed month are kept until it is reopened';
    END IF;
    RETURN OLD;
END $$;
