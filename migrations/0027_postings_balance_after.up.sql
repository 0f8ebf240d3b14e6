-- A posting on an account that may not go negative records the balance it
-- left (balance_after); on a platform account, or a customer's points
-- owed, none. No posting may leave such an account below zero: the
-- balance row's own CHECK sees only what a transaction leaves in the end,
-- and a transaction of several entries (ledger.PostMany) may debit before
-- it credits. NOT VALID: the rows already written are not read again (every
-- one of them was written against the balance row's CHECK, one entry at a
-- time); every row written from now on is checked.
ALTER TABLE postings ADD CONSTRAINT posting_balance_nonnegative CHECK (balance_after >= 0) NOT VALID;
