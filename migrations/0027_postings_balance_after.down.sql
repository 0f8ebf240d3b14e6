ALTER TABLE postings DROP CONSTRAINT posting_balance_nonnegative;
