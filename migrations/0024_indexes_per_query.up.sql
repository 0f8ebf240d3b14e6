-- The indexes of the tables a shipment event writes: each one left names
-- the query it serves; those no query needs are dropped, so that each row
-- written enters fewer indexes. Read with EXPLAIN (ANALYZE) on a database
-- of 1,000,000 postings spread over a year:
--   * postings_effective: finance's period reads (ledger.Movements,
--     PeriodFigures) join every entry and read a large share of the
--     postings; a sequential scan of them takes the same time.
--     TrialBalance and BalanceAsOf read through postings_account_effective.
--   * shipments_customer: no query looks shipments up by customer.
--   * lot_draws_lot: no query looks draws up by lot (reconciliation sums
--     them all), and lots are never deleted, so their foreign key never
--     searches it.
-- notifications_once_key_key stays a constraint over every row, although
-- only notices have a key: a partial index would save an entry per
-- points.earned, but a server of an earlier release still running during
-- an upgrade names the constraint in its ON CONFLICT and could no longer
-- write any notification, so every event it took would fail.
DROP INDEX postings_effective;
DROP INDEX shipments_customer;
DROP INDEX lot_draws_lot;

COMMENT ON INDEX postings_pkey IS
    'primary key: a posting''s identity. No query reads by it alone: statement cursors are found with their account, through postings_account_id';
COMMENT ON INDEX postings_entry_id_account_id_key IS
    'unique: one posting per account per entry. An entry''s postings: ledger.Entry, the chain''s links (ledger.Seal, Verify), Tx.AccountsStatement''s lines of a page';
COMMENT ON INDEX postings_account_id IS
    'ledger.Statement of an account that may not go negative: its postings newest first by id, from a cursor; hotStatement''s lookup of its cursor posting';
COMMENT ON INDEX postings_account_effective IS
    'ledger.BalanceAsOf and TrialBalance: an account''s postings effective by an instant, amounts read from the index';
COMMENT ON INDEX postings_account_xid IS
    'ledger.hotStatement and Tx.AccountsStatement (loyalty.Statement): an account''s postings in (xid, entry) order below the horizon, and the sum of those above a page';

COMMENT ON INDEX entries_pkey IS
    'primary key: an entry by id (ledger.Entry, statements'' entries, foreign keys to entries)';
COMMENT ON INDEX entries_idempotency_key_key IS
    'unique: one entry per idempotency key; ledger.Post''s replay of a key';
COMMENT ON INDEX entries_reversal_of_key IS
    'unique: an entry is reversed at most once; ledger.Entry''s reversed_by';
COMMENT ON INDEX entries_xid IS
    'ledger.Seal: the next entries to link in (xid, id) order; chainHead''s count of unsealed entries; Verify''s search for an unchained entry';

COMMENT ON INDEX points_lots_pkey IS
    'primary key: a lot by id (draw_lots'' update, restore_lots, lot_draws'' foreign key)';
COMMENT ON INDEX points_lots_entry_id_account_id_key IS
    'unique: one lot per credit per account. Tx.LotRemaining; draw_lots undoing a credit (the lots of one entry)';
COMMENT ON INDEX points_lots_open_covering IS
    'an account''s open lots by expiry: Tx.LotSummary and QueueHoldings (from the index alone), Tx.ExpiringLots, draw_lots'' candidates to spend or expire';
COMMENT ON INDEX points_lots_expiring IS
    'open lots by expiry across accounts: Tx.ExpiringPoints (the points.expiring notices), ledger.ExpiringAccounts (the expiry run)';

COMMENT ON INDEX lot_draws_pkey IS
    'primary key: one draw per entry and lot; restore_lots: the draws of the entry undone';

COMMENT ON INDEX shipments_pkey IS
    'primary key: a shipment by id (the run''s completed shipments, a refund''s or a rating''s shipment, foreign keys of referral_bonuses and points_owed)';

COMMENT ON INDEX events_pkey IS
    'primary key: one event per id in its space; the stored result a retry replays (loyalty''s event loaders)';

COMMENT ON INDEX notifications_pkey IS
    'primary key: a notification by id (the webhook fan-out and redelivery, deliveries'' notifications)';
COMMENT ON INDEX notifications_once_key_key IS
    'unique: a notice at most once (notify.Emit and Queue: ON CONFLICT (once_key))';
COMMENT ON INDEX notifications_order IS
    'notify.Feed: notifications in (xid, id) order below the horizon, from a cursor';

COMMENT ON INDEX chain_links_pkey IS
    'primary key: the chain in order (ledger.Seal''s and chainHead''s last link, Verify''s walk)';
COMMENT ON INDEX chain_links_entry_id_key IS
    'unique: an entry is linked once; Verify''s search for an entry no link covers';
COMMENT ON INDEX chain_blocks_pkey IS
    'primary key: a block by id (chainHead''s block of the last link)';

COMMENT ON INDEX customer_months_pkey IS
    'primary key: a customer''s month (the month upserts of shipments and refunds, tiers and contributions read by customer and month)';

COMMENT ON INDEX balance_buckets_pkey IS
    'primary key: an account''s balance rows (every balance read, the upserts of PostMany and Post, the lock of a balance)';

COMMENT ON INDEX webhook_feed_pkey IS
    'primary key: the one row of the webhook fan-out''s cursor and lease';
