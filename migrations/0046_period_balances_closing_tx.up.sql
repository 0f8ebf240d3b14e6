-- A close reads its figures before it holds writers back, and records
-- itself (its period_closes row and the balances it keeps) before it takes
-- its lock on entries. Under the lock, entries back-dated into the month
-- meanwhile change its digest and a few accounts' closing balances: the
-- transaction that inserted the close may correct them before it commits.
--
-- closing_xid is that transaction's id (closes made before this migration:
-- 0, which no transaction has), compared whole (64 bits), and the row's
-- xmin must be it too: a close restored from another cluster keeps its
-- closing_xid, which a transaction here may come to have, but its xmin is
-- the restore's. Any other transaction still may not
-- delete a closed month's balances, only its reopening does (the foreign
-- key's cascade, once the period_closes row is gone), and a close's row
-- changes only its digest, only in its own transaction.
ALTER TABLE period_closes ADD COLUMN closing_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE period_closes ALTER COLUMN closing_xid SET DEFAULT pg_current_xact_id();
CREATE OR REPLACE FUNCTION period_balances_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM period_closes c WHERE c.ends_at = OLD.ends_at
               AND NOT (c.closing_xid = pg_current_xact_id_if_assigned()
                        AND c.xmin = pg_current_xact_id_if_assigned()::xid)) THEN
        RAISE EXCEPTION 'period_balances: the balances of a closed month are kept until it is reopened';
    END IF;
    RETURN OLD;
END $$;
CREATE FUNCTION period_closes_digest_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM period_closes c WHERE c.month = OLD.month
                   AND c.closing_xid = pg_current_xact_id_if_assigned()
                   AND c.xmin = pg_current_xact_id_if_assigned()::xid)
       OR (NEW.month, NEW.starts_at, NEW.ends_at, NEW.closed_at, NEW.closed_by, NEW.closing_xid)
          IS DISTINCT FROM (OLD.month, OLD.starts_at, OLD.ends_at, OLD.closed_at, OLD.closed_by, OLD.closing_xid) THEN
        RAISE EXCEPTION 'period_closes: a close changes only its digest, only in the transaction that made it';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER period_closes_digest_only BEFORE UPDATE ON period_closes
    FOR EACH ROW EXECUTE FUNCTION period_closes_digest_only();
-- TRUNCATE skips row triggers: refuse it on both, as on period_history.
CREATE TRIGGER period_closes_no_truncate BEFORE TRUNCATE ON period_closes
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER period_balances_no_truncate BEFORE TRUNCATE ON period_balances
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
