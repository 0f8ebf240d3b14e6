CREATE INDEX postings_account_entry ON postings (account_id, entry_id);
DROP INDEX postings_account_xid;
ALTER TABLE postings DROP COLUMN xid;
