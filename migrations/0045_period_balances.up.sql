-- Balances at the end of closed months: checkpoints for the balance of an
-- account as of an instant. A close keeps the closing balance of every
-- account that moved in the month (of every account in its figures, when
-- the month before kept none), computed in the close's transaction with
-- its figures. No entry may be effective before the latest closed month's
-- end, so a kept balance stays the sum of the account's postings before
-- ends_at for as long as its month is closed; a reopening deletes the
-- month's rows with its period_closes row, and nothing else may delete
-- them. A balance as of t then adds to the account's latest row at or
-- before t only the postings effective from that row's ends_at to t.
-- Reconciliation checks every row against the postings
-- (kept_balances_match_postings). account_id has no foreign key: the close
-- takes it from accounts in the same statement, and a check a row cost the
-- close (which holds writers back) more than the rest of the insert.
CREATE TABLE period_balances (
    account_id bigint NOT NULL,
    ends_at    timestamptz NOT NULL REFERENCES period_closes (ends_at) ON DELETE CASCADE,
    balance    numeric NOT NULL,
    PRIMARY KEY (account_id, ends_at)
);
COMMENT ON INDEX period_balances_pkey IS
    'An account''s latest kept balance at or before an instant (Ledger.BalanceAsOf, Ledger.TrialBalance), and the row before it (the reconciliation check).';
CREATE INDEX period_balances_ends_at ON period_balances (ends_at);
COMMENT ON INDEX period_balances_ends_at IS
    'The rows a reopening deletes (the foreign key''s cascade).';
CREATE TRIGGER period_balances_no_update BEFORE UPDATE ON period_balances
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
-- A kept balance goes only with its month's close (the cascade of a
-- reopening runs once the period_closes row is gone).
CREATE FUNCTION period_balances_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM period_closes WHERE ends_at = OLD.ends_at) THEN
        RAISE EXCEPTION 'period_balances: the balances of a closed month are kept until it is reopened';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER period_balances_no_delete BEFORE DELETE ON period_balances
    FOR EACH ROW EXECUTE FUNCTION period_balances_kept();
