DROP TRIGGER period_balances_no_truncate ON period_balances;
DROP TRIGGER period_closes_no_truncate ON period_closes;
DROP TRIGGER period_closes_digest_only ON period_closes;
DROP FUNCTION period_closes_digest_only();
CREATE OR REPLACE FUNCTION period_balances_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM period_closes WHERE ends_at = OLD.ends_at) THEN
        RAISE EXCEPTION 'period_balances: the balances of a closed month are kept until it is reopened';
    END IF;
    RETURN OLD;
END $$;
ALTER TABLE period_closes DROP COLUMN closing_xid;
