package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/books"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/migrations"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/prepaid"
)

// eventTables are the tables a shipment event writes (the bench's
// footprint per event), whose indexes migration 0024 names or drops.
var eventTables = []string{"balance_buckets", "chain_blocks", "chain_links", "customer_months", "entries", "events",
	"lot_draws", "notifications", "points_lots", "postings", "shipments", "webhook_feed"}

// leanIndexes are the indexes those tables keep after 0024, by table.
var leanIndexes = map[string][]string{
	"balance_buckets": {"balance_buckets_pkey"},
	"chain_blocks":    {"chain_blocks_pkey"},
	"chain_links":     {"chain_links_entry_id_key", "chain_links_pkey"},
	"customer_months": {"customer_months_pkey"},
	"entries":         {"entries_idempotency_key_key", "entries_pkey", "entries_reversal_of_key", "entries_xid"},
	"events":          {"events_pkey"},
	"lot_draws":       {"lot_draws_pkey"},
	"notifications":   {"notifications_once_key_key", "notifications_order", "notifications_pkey"},
	"points_lots": {"points_lots_entry_id_account_id_key", "points_lots_expiring", "points_lots_open_covering",
		"points_lots_pkey"},
	"postings": {"postings_account_effective", "postings_account_id", "postings_account_xid",
		"postings_entry_id_account_id_key", "postings_pkey"},
	"shipments":    {"shipments_pkey"},
	"webhook_feed": {"webhook_feed_pkey"},
}

// droppedBy0024 are the indexes no query needs, by table.
var droppedBy0024 = map[string]string{"postings": "postings_effective", "shipments": "shipments_customer",
	"lot_draws": "lot_draws_lot"}

// Migration 0024, applied to a database the services have written to
// (shipments in batches, a referral, a refund, a redemption and its
// cancellation, a deposit and a charge, notices once only, the chain
// sealed): every row of every table is as it was; the tables an event
// writes keep exactly the indexes a query needs, each naming it in its
// comment; a notice is still once only, and the services go on writing
// books that prove. Rolled back, the schema is 0023's again, rows intact.
func TestLeanIndexesMigrationKeepsEveryRowAndNamesEachIndexsQuery(t *testing.T) {
	ctx := context.Background()
	// The schema before 0024, built up from nothing (not 0024's down).
	url, m, pool, e := schemaAt(t, 23)
	atHead(t, m, 23, func() { writeBusiness(t, e, "before") })
	emitNotice(t, e, "C03", 1)
	emitNotice(t, e, "C04", 1)
	if _, err := e.Ledger.SealAll(ctx); err != nil {
		t.Fatal(err)
	}

	rowsAt23 := tableDigests(t, pool)
	indexesAt23 := indexNames(t, pool)
	for table, ix := range droppedBy0024 {
		if !slices.Contains(indexesAt23[table], ix) {
			t.Fatalf("at 0023 %s has no %s: %v", table, ix, indexesAt23[table])
		}
	}
	if err := m.Migrate(24); err != nil {
		t.Fatalf("0024 up: %v", err)
	}

	wantSameRows(t, "after 0024", rowsAt23, tableDigests(t, pool))
	got := indexNames(t, pool)
	for _, table := range eventTables {
		if fmt.Sprint(got[table]) != fmt.Sprint(leanIndexes[table]) {
			t.Errorf("%s's indexes after 0024: %v, want %v", table, got[table], leanIndexes[table])
		}
	}
	comments := indexComments(t, pool)
	for _, table := range eventTables {
		for _, ix := range leanIndexes[table] {
			if _, ok := comments[ix]; !ok {
				t.Errorf("no index %s to comment", ix)
			}
		}
	}
	for ix, comment := range comments {
		if len(comment) < 20 {
			t.Errorf("index %s names no query in its comment: %q", ix, comment)
		}
	}
	var unique bool
	var predicate string
	if err := pool.QueryRow(ctx, `SELECT i.indisunique, coalesce(pg_get_expr(i.indpred, i.indrelid), '')
FROM pg_index i WHERE i.indexrelid = 'notifications_once_key_key'::regclass`).Scan(&unique, &predicate); err != nil {
		t.Fatal(err)
	}
	// Over every row, as before: a server of the release before, still
	// running during the upgrade, names it in its ON CONFLICT (once_key).
	if !unique || predicate != "" {
		t.Errorf("notifications_once_key_key: unique %v, predicate %q; want the unique constraint over every row", unique, predicate)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO notifications (type, customer_id, occurred_at, payload, once_key)
VALUES ('points.expiring', 'C04', now(), '{}', 'expiring:C04:older-release') ON CONFLICT (once_key) DO NOTHING`); err != nil {
		t.Errorf("the notice insert of the release before 0024 fails on it: %v", err)
	}

	// A notice is still once only: emitted again it writes nothing, and a
	// second row with its key is refused by the index.
	emitNotice(t, e, "C03", 0)
	emitNotice(t, e, "C05", 1)
	_, err := pool.Exec(ctx, `INSERT INTO notifications (type, customer_id, occurred_at, payload, once_key)
VALUES ('points.expiring', 'C04', now(), '{}', 'expiring:C04:2027-03-01')`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "notifications_once_key_key" {
		t.Errorf("a second notice with a key written: %v, want 23505 on notifications_once_key_key", err)
	}
	// The services write on the lean schema, and the books prove.
	atHead(t, m, 24, func() {
		writeBusiness(t, e, "after")
		proveBooks(t, m, e, url)
	})

	// Rolled back: 0023's indexes, no comments, the rows as they were.
	rowsAt24 := tableDigests(t, pool)
	if err := m.Steps(-1); err != nil {
		t.Fatalf("0024 down: %v", err)
	}
	wantSameRows(t, "after 0024 down", rowsAt24, tableDigests(t, pool))
	if got := indexNames(t, pool); fmt.Sprint(got) != fmt.Sprint(indexesAt23) {
		t.Errorf("indexes after 0024 down:\n %v\nwant 0023's\n %v", got, indexesAt23)
	}
	for ix, comment := range indexComments(t, pool) {
		if comment != "" {
			t.Errorf("index %s keeps a comment after 0024 down: %q", ix, comment)
		}
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up again: %v", err)
	}
}

// writeBusiness writes, through the services, what a day of business
// writes: customers (some referred), 60 shipments in batches, a partial
// refund, a redemption, another cancelled, a deposit and a charge. tag
// keeps the ids of two calls apart.
func writeBusiness(t *testing.T, e *servicetest.Env, tag string) {
	t.Helper()
	at := func(i int) time.Time { return servicetest.March(10, 9).Add(time.Duration(i) * time.Minute) }
	if tag == "before" {
		e.Customer("C00")
		for i := 1; i < 8; i++ {
			if i < 4 {
				e.Customer(fmt.Sprintf("C%02d", i), "C00")
			} else {
				e.Customer(fmt.Sprintf("C%02d", i))
			}
		}
		e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 50, Active: true})
	}
	for batch := range 3 {
		var events []loyalty.Event
		for i := range 20 {
			n := batch*20 + i
			events = append(events, e.Event(loyalty.ShipmentCompleted, fmt.Sprintf("C%02d", n%8),
				fmt.Sprintf("%s-S%d", tag, n), fmt.Sprintf("%d.%02d", 40+n*7, n), at(n)))
		}
		for i, o := range e.ProcessBatch(e.Key, events) {
			if o.Err != nil {
				t.Fatalf("%s: shipment %s: %v", tag, events[i].ShipmentID, o.Err)
			}
		}
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C01", tag+"-S1", "20.00", at(70)))
	if _, err := e.Redeem("C02", "mug", 1); err != nil {
		t.Fatalf("%s: redeem: %v", tag, err)
	}
	r, err := e.Redeem("C05", "mug", 2)
	if err != nil {
		t.Fatalf("%s: redeem: %v", tag, err)
	}
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "", "test"); err != nil {
		t.Fatalf("%s: cancel: %v", tag, err)
	}
	e.MustMoney(prepaid.Deposit, "C06", "500.00")
	e.MustMoney(prepaid.Charge, "C06", "120.50")
}

// atHead runs write, which writes through the services, on a schema
// older than theirs: on the latest schema, migrated down to version
// afterwards (each down keeps the rows, as its own test proves).
func atHead(t *testing.T, m *migrate.Migrate, version uint, write func()) {
	t.Helper()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up to write through the services: %v", err)
	}
	write()
	if err := m.Migrate(version); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("down to %d after writing through the services: %v", version, err)
	}
}

// rowsAt migrates to version (from the latest, where the services wrote)
// and answers tableDigests there: the rows a down from it must keep.
func rowsAt(t *testing.T, m *migrate.Migrate, pool *pgxpool.Pool, version uint) map[string]string {
	t.Helper()
	if err := m.Migrate(version); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("down to %d: %v", version, err)
	}
	return tableDigests(t, pool)
}

// downKeepsRows migrates from version from (reached from the latest, where
// the services wrote) down to version to, and wants every row kept and
// table's indexes to be those it had at to (indexesAtTo).
func downKeepsRows(t *testing.T, m *migrate.Migrate, pool *pgxpool.Pool, from, to uint, table string, indexesAtTo []string) {
	t.Helper()
	rowsAtFrom := rowsAt(t, m, pool, from)
	if err := m.Migrate(to); err != nil {
		t.Fatalf("%04d to %04d down: %v", from, to+1, err)
	}
	wantSameRows(t, fmt.Sprintf("after %04d to %04d down", from, to+1), rowsAtFrom, tableDigests(t, pool))
	if got := indexNamesOf(t, pool, []string{table})[table]; !slices.Equal(got, indexesAtTo) {
		t.Errorf("%s's indexes after the downs: %v, want %04d's %v", table, got, to, indexesAtTo)
	}
}

// proveBooks seals the chain, reconciles and checks the books of the
// migrated schema the test wrote to: the test checks them itself. The
// services read them on their own schema, the latest (atHead), migrated
// back to the version it was after.
func proveBooks(t *testing.T, m *migrate.Migrate, e *servicetest.Env, url string) {
	t.Helper()
	version, _, err := m.Version()
	if err != nil {
		t.Fatal(err)
	}
	atHead(t, m, version, func() {
		if _, err := e.Ledger.SealAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.Reconcile()
		books.Check(t, url)
	})
	testdb.SkipBooks(t, "the books are checked by the test itself, on the migrated schema")
}

// emitNotice emits the customer's points.expiring notice for March 2027,
// once only, in a transaction of its own, and wants it to write n rows.
func emitNotice(t *testing.T, e *servicetest.Env, customer string, n int) {
	t.Helper()
	key := "expiring:" + customer + ":2027-03-01"
	var wrote int
	err := e.Ledger.InTx(e.Ctx, func(tx *ledger.Tx) error {
		var err error
		wrote, err = notify.Emit(e.Ctx, tx, notify.Event{Type: notify.PointsExpiring, Customer: customer,
			Payload: map[string]any{"points": "10"}, OnceKey: key})
		return err
	})
	if err != nil {
		t.Fatalf("notice %s: %v", key, err)
	}
	if wrote != n {
		t.Fatalf("notice %s: wrote %d, want %d", key, wrote, n)
	}
}

// queryString is the one text value query q reads from pool.
func queryString(t *testing.T, pool *pgxpool.Pool, q string) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), q).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// tableDigests is every table's row count and a digest of its rows (as
// text, sorted), but the migrations' own.
func tableDigests(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, table := range tables {
		var count int64
		var digest string
		name := pgx.Identifier{table}.Sanitize()
		if err := pool.QueryRow(ctx, `SELECT count(*), coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), '')
FROM `+name+` r`).Scan(&count, &digest); err != nil {
			t.Fatal(err)
		}
		out[table] = fmt.Sprintf("%d rows %s", count, digest)
	}
	return out
}

func wantSameRows(t *testing.T, when string, before, after map[string]string) {
	t.Helper()
	if len(after) != len(before) {
		t.Errorf("%s: %d tables, want %d", when, len(after), len(before))
	}
	for table, b := range before {
		if after[table] != b {
			t.Errorf("%s: %s is %s, was %s", when, table, after[table], b)
		}
	}
	if before["postings"] == "" || before["postings"][:2] == "0 " {
		t.Errorf("%s: no postings to keep: %q", when, before["postings"])
	}
}

// indexNames are the indexes of the event tables, by table, by name.
func indexNames(t *testing.T, pool *pgxpool.Pool) map[string][]string {
	t.Helper()
	return indexNamesOf(t, pool, eventTables)
}

// indexNamesOf are the indexes of the tables, by table, by name.
func indexNamesOf(t *testing.T, pool *pgxpool.Pool, tables []string) map[string][]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT tablename, indexname FROM pg_indexes
WHERE schemaname = 'public' AND tablename = ANY($1) ORDER BY 1, 2`, tables)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var table, index string
	if _, err := pgx.ForEachRow(rows, []any{&table, &index}, func() error {
		out[table] = append(out[table], index)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// indexComments are the comments of the event tables' indexes, by index,
// "" for none.
func indexComments(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	return indexCommentsOf(t, pool, eventTables)
}

// indexCommentsOf are the comments of the tables' indexes, by index, ""
// for none.
func indexCommentsOf(t *testing.T, pool *pgxpool.Pool, tables []string) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT c.relname, coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class r ON r.oid = i.indrelid
WHERE r.relname = ANY($1)`, tables)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var index, comment string
	if _, err := pgx.ForEachRow(rows, []any{&index, &comment}, func() error {
		out[index] = comment
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// schemaAt is a fresh database whose schema was built up from nothing to
// version, its migrator, a pool on it and the services on that pool (all
// closed when the test ends).
func schemaAt(t *testing.T, version uint) (string, *migrate.Migrate, *pgxpool.Pool, *servicetest.Env) {
	t.Helper()
	url := testdb.New(t)
	m, err := migrations.New(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Down(); err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(version); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return url, m, pool, servicetest.NewWith(t, servicetest.Config{Pool: pool})
}

// swapIndexConcurrently runs a swap of indexes as 0038 to 0040 made it:
// migration first builds index on table CONCURRENTLY, first+1 checks that
// it is valid, first+2 drops old. It first proves the check: the build
// left invalid (as an interrupted CONCURRENTLY build leaves it), the
// migrations to first+2 are refused naming the index, and old is kept;
// then the way out the error names (drop the index, force first-1,
// migrate again) takes the schema to first+2.
func swapIndexConcurrently(t *testing.T, m *migrate.Migrate, pool *pgxpool.Pool, table, index, old string, first uint) {
	t.Helper()
	ctx := context.Background()
	if err := m.Migrate(first); err != nil {
		t.Fatalf("%04d up: %v", first, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass`, index); err != nil {
		t.Fatal(err)
	}
	err := m.Migrate(first + 2)
	if err == nil || !strings.Contains(err.Error(), index+" is missing or invalid") {
		t.Fatalf("%04d over an invalid index: %v, want it refused", first+1, err)
	}
	if got := indexNamesOf(t, pool, []string{table})[table]; !slices.Contains(got, old) {
		t.Fatalf("the refused %04d let %s go: %v", first+1, old, got)
	}
	if _, err := pool.Exec(ctx, `DROP INDEX `+index); err != nil {
		t.Fatal(err)
	}
	if err := m.Force(int(first - 1)); err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(first + 2); err != nil {
		t.Fatalf("%04d to %04d again: %v", first, first+2, err)
	}
}
