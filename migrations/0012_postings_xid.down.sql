DROP INDEX postings_hot_account_xid;
ALTER TABLE postings DROP COLUMN xid;
