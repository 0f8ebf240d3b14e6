-- A posting is keyed by its entry and account, the key every read of a
-- posting by identity already uses; the index on its id alone goes.
--   * postings_pkey (id): no query finds a posting by its id alone. The
--     cursor of an account's statement is a posting id, and it is always
--     looked up with its account, through postings_account_id (account_id,
--     id). The id stays a column (GENERATED ALWAYS, so unique without an
--     index: postings are never updated, and no insert names an id), and
--     the API still shows it as posting_id.
--   * the unique constraint one posting per account per entry (entry_id,
--     account_id) becomes the primary key, with the same columns: its
--     index, built again under the primary key's name (an index that backs
--     a constraint cannot be handed to another), is 0033's, built
--     concurrently; then the old one goes. The one statement takes the
--     table's ACCESS EXCLUSIVE lock first, and holds it briefly: no lock
--     weaker is taken before it, which a transaction that read postings
--     and then writes one could deadlock with.
-- Each posting so enters four indexes instead of five; a shipment event,
-- with its two postings, two index entries fewer.
ALTER TABLE postings DROP CONSTRAINT postings_pkey,
    DROP CONSTRAINT postings_entry_id_account_id_key,
    ADD CONSTRAINT postings_pkey PRIMARY KEY USING INDEX postings_entry_account;

COMMENT ON INDEX postings_pkey IS
    'primary key: one posting per account per entry. An entry''s postings: ledger.Entry, the chain''s links (ledger.Seal, Verify), Tx.AccountsStatement''s lines of a page';
COMMENT ON INDEX postings_account_id IS
    'ledger.Statement of an account that may not go negative: its postings newest first by id, from a cursor; hotStatement''s lookup of its cursor posting (by account and id)';
