-- Balances at the end of closed months: checkpoints for the balance of an
-- account as of an instant. A close keeps the closing balance of every
-- account that moved in the month (of every account with a balance, when
-- the month before kept none), computed in the close's transaction with
-- its figures. No entry may be effective before the latest closed month's
-- end, so a kept balance stays the sum of the account's postings before
-- ends_at for as long as its month is closed; a reopening deletes the
-- month's rows with its period_closes row. A balance as of t then adds to
-- the account's latest row at or before t only the postings effective from
-- that row's ends_at to t.
CREATE TABLE period_balances (
    account_id bigint NOT NULL REFERENCES accounts (id),
    ends_at    timestamptz NOT NULL REFERENCES period_closes (ends_at) ON DELETE CASCADE,
    balance    numeric NOT NULL,
    PRIMARY KEY (account_id, ends_at)
);
COMMENT ON INDEX period_balances_pkey IS
    'An account''s latest kept balance at or before an instant (Ledger.BalanceAsOf), and every account''s (Ledger.TrialBalance).';
CREATE INDEX period_balances_ends_at ON period_balances (ends_at);
COMMENT ON INDEX period_balances_ends_at IS
    'The latest month that kept balances at or before an instant (Ledger.TrialBalance), and the rows a reopening deletes (the foreign key''s cascade).';
CREATE TRIGGER period_balances_no_update BEFORE UPDATE ON period_balances
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
