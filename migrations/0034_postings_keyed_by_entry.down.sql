-- The table to itself first: the indexes' builds below would otherwise
-- take a SHARE lock, then the ALTER an ACCESS EXCLUSIVE one, which a
-- transaction that read postings and then writes one deadlocks with.
LOCK TABLE postings IN ACCESS EXCLUSIVE MODE;
CREATE UNIQUE INDEX postings_id ON postings (id);
ALTER TABLE postings DROP CONSTRAINT postings_pkey,
    ADD CONSTRAINT postings_pkey PRIMARY KEY USING INDEX postings_id;
ALTER TABLE postings ADD CONSTRAINT postings_entry_id_account_id_key UNIQUE (entry_id, account_id);
-- 0033's index, as 0033 left it (its down drops it).
CREATE UNIQUE INDEX postings_entry_account ON postings (entry_id, account_id);

COMMENT ON INDEX postings_pkey IS
    'primary key: a posting''s identity. No query reads by it alone: statement cursors are found with their account, through postings_account_id';
COMMENT ON INDEX postings_entry_id_account_id_key IS
    'unique: one posting per account per entry. An entry''s postings: ledger.Entry, the chain''s links (ledger.Seal, Verify), Tx.AccountsStatement''s lines of a page';
COMMENT ON INDEX postings_account_id IS
    'ledger.Statement of an account that may not go negative: its postings newest first by id, from a cursor; hotStatement''s lookup of its cursor posting';
