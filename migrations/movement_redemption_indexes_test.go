package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// movementTables are the tables of a money movement and a redemption whose
// indexes migration 0031 names or drops (the rest of what they write, the
// entries, postings, lots and notifications, 0024 did).
var movementTables = []string{"money_movements", "redemptions"}

// movementIndexes are the indexes those tables keep after 0031, with the
// columns of their keys.
var movementIndexes = map[string][]string{
	"money_movements": {"money_movements_customer (customer_id)", "money_movements_pkey (kind, id, space)"},
	"redemptions": {"redemptions_customer_entry (customer_id, entry_id DESC)", "redemptions_customer_sku (customer_id, sku)",
		"redemptions_pkey (id, space)"},
}

// lookUps are the reads the dropped indexes served, each with the index
// that must serve it after 0031 and the conditions its probe must carry
// (written as prepaid and catalog send them). An index named in a plan,
// even with conditions, is not enough: a scan of the whole index, its
// leading column unknown, shows the same; the test wants the index's
// leading column among the conditions too.
var lookUps = []struct {
	name, query, index string
	cond               []string
}{
	{"a movement in any space (reverseMoney)", `SELECT space, customer_id, entry_id FROM money_movements
WHERE kind = $2 AND id = $3 AND (space = $1 OR $1 IS NULL) LIMIT 2`, "money_movements_pkey", []string{"(kind = $2)", "(id = $3)"}},
	{"a reversal's replay (ReverseMoneyWithKey)", `SELECT space FROM money_movements WHERE kind = $1 AND id = $2 AND reversal_entry_id = $3`,
		"money_movements_pkey", []string{"(kind = $1)", "(id = $2)"}},
	{"a movement in its space (moneyMovement)", `SELECT entry_id FROM money_movements WHERE space = $1 AND kind = $2 AND id = $3`,
		"money_movements_pkey", []string{"(kind = $2)", "(id = $3)", "(space = $1)"}},
	{"the deposits in id order (RebateCheck)", `SELECT id, customer_id, amount FROM money_movements WHERE kind = 'deposit' ORDER BY id`,
		"money_movements_pkey", []string{"(kind = 'deposit'::text)"}},
	{"a redemption in any space (qRedemption)", `SELECT space, id, customer_id FROM redemptions
WHERE id = $2 AND (space = $1 OR $1 IS NULL) LIMIT 2`, "redemptions_pkey", []string{"(id = $2)"}},
	{"a cancellation's replay (CancelRedemptionWithKey)", `SELECT space FROM redemptions WHERE id = $1 AND cancel_entry_id = $2`,
		"redemptions_pkey", []string{"(id = $1)"}},
	{"a redemption in its space (a retry's stored request)", `SELECT request_hash FROM redemptions WHERE space = $1 AND id = $2`,
		"redemptions_pkey", []string{"(id = $2)", "(space = $1)"}},
}

// Migration 0031, applied to a database the services wrote to (deposits,
// charges, a reversal, redemptions and a cancellation, among a day's
// shipments): every row of every table is as it was; money movements and
// redemptions keep the indexes a query needs, each naming it; every read
// the dropped ones served probes a primary key on a generic plan; a
// statement of the release before, which names the old key's columns in
// its ON CONFLICT, still works; and the services go on writing books that
// prove. Rolled back, the schema is 0030's again, rows intact.
func TestMovementAndRedemptionIndexesMigrationKeepsEveryRowAndNamesEachIndexsQuery(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 30)
	atHead(t, m, 30, func() {
		writeBusiness(t, e, "before")
		d := e.MustMoney(prepaid.Deposit, "C07", "300.00")
		if _, err := e.Prepaid.ReverseMoney(ctx, prepaid.Deposit, ledger.AnySpace, d.ID, "test", "admin"); err != nil {
			t.Fatalf("reverse: %v", err)
		}
	})
	rowsAt30 := tableDigests(t, pool)
	indexesAt30 := indexNamesOf(t, pool, movementTables)
	for _, table := range movementTables {
		if strings.HasPrefix(rowsAt30[table], "0 rows") {
			t.Fatalf("at 0030 %s has no rows: the test proves nothing", table)
		}
	}

	if err := m.Migrate(31); err != nil {
		t.Fatalf("0031 up: %v", err)
	}
	wantSameRows(t, "after 0031", rowsAt30, tableDigests(t, pool))
	for table, want := range movementIndexes {
		if got := indexKeys(t, pool, table); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s's indexes after 0031: %v, want %v", table, got, want)
		}
	}
	for ix, comment := range indexCommentsOf(t, pool, movementTables) {
		if len(comment) < 20 {
			t.Errorf("index %s names no query in its comment: %q", ix, comment)
		}
	}
	for _, l := range lookUps {
		probes := func(plan string) bool {
			ok := strings.Contains(plan, "using "+l.index+" on") && !strings.Contains(plan, "Seq Scan") && !strings.Contains(plan, "Sort")
			for _, c := range append(l.cond, "("+leadingColumn(t, pool, l.index)+" = ") {
				ok = ok && strings.Contains(indexCond(plan), c)
			}
			return ok
		}
		plan := ""
		// An index built over HOT-updated rows (a reversal updates its
		// movement's row in place) is marked indcheckxmin: no snapshot
		// taken before it may use it. Tests of other packages running on
		// the same cluster hold such snapshots for a moment: the plan is
		// read again while the index waits for them, up to 30 s.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			plan = testdb.GenericPlanWith(t, pool, []string{"enable_seqscan = off", "enable_sort = off", "jit = off"},
				l.query, make([]any, params(l.query))...)
			if probes(plan) || !checksXmin(t, pool, l.index) || time.Now().After(deadline) {
				break
			}
		}
		if !probes(plan) {
			t.Errorf("%s: its generic plan does not probe %s by %v:\n%s", l.name, l.index, l.cond, plan)
		}
	}
	// The release before, still running during an upgrade, names the old
	// key's columns in its ON CONFLICT: they infer the new key.
	var space, id string
	e.Scan(t, `SELECT space, id FROM redemptions LIMIT 1`, &space, &id)
	tag, err := pool.Exec(ctx, `INSERT INTO redemptions (space, id, customer_id, sku, quantity, request_hash, created_at)
SELECT space, id, customer_id, sku, quantity, request_hash, created_at FROM redemptions WHERE space = $1 AND id = $2
ON CONFLICT (space, id) DO NOTHING`, space, id)
	if err != nil || tag.RowsAffected() != 0 {
		t.Errorf("the release before's redemption insert of a known id: %v, %d rows; want nothing written", err, tag.RowsAffected())
	}
	tag, err = pool.Exec(ctx, `INSERT INTO money_movements SELECT * FROM money_movements LIMIT 1 ON CONFLICT (space, kind, id) DO NOTHING`)
	if err != nil || tag.RowsAffected() != 0 {
		t.Errorf("a movement inserted again on (space, kind, id): %v, %d rows; want nothing written", err, tag.RowsAffected())
	}

	// The services write on it (on their own schema, the latest, migrated
	// back to 0031 after), reverse and cancel by id in any space, and the
	// books prove.
	atHead(t, m, 31, func() {
		writeBusiness(t, e, "after")
		d := e.MustMoney(prepaid.Deposit, "C07", "200.00")
		if _, err := e.Prepaid.ReverseMoney(ctx, prepaid.Deposit, ledger.AnySpace, d.ID, "test", "admin"); err != nil {
			t.Errorf("reverse after 0031: %v", err)
		}
	})
	proveBooks(t, m, e, url)

	// Rolled back: 0030's indexes, no comments, the rows as they were.
	rowsAt31 := tableDigests(t, pool)
	if err := m.Steps(-1); err != nil {
		t.Fatalf("0031 down: %v", err)
	}
	wantSameRows(t, "after 0031 down", rowsAt31, tableDigests(t, pool))
	if got := indexNamesOf(t, pool, movementTables); fmt.Sprint(got) != fmt.Sprint(indexesAt30) {
		t.Errorf("indexes after 0031 down:\n %v\nwant 0030's\n %v", got, indexesAt30)
	}
	for ix, comment := range indexCommentsOf(t, pool, movementTables) {
		if comment != "" {
			t.Errorf("index %s keeps a comment after 0031 down: %q", ix, comment)
		}
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up again: %v", err)
	}
}

// indexKeys are the table's indexes, each as its name and its key's
// columns, by name.
func indexKeys(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	var out []string
	rows, err := pool.Query(context.Background(), `SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename = $1 ORDER BY 1`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		// CREATE [UNIQUE] INDEX name ON public.table USING btree (columns) [WHERE ...]
		cols := def[strings.Index(def, "btree ")+len("btree "):]
		if w := strings.Index(cols, " WHERE "); w >= 0 {
			cols = cols[:w]
		}
		out = append(out, name+" "+cols)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// indexCond is the plan's Index Cond lines, joined.
func indexCond(plan string) string {
	var conds []string
	for line := range strings.Lines(plan) {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "Index Cond: "); ok {
			conds = append(conds, c)
		}
	}
	return strings.Join(conds, " ")
}

// leadingColumn is the first column of the index's key.
func leadingColumn(t *testing.T, pool *pgxpool.Pool, index string) string {
	t.Helper()
	var col string
	if err := pool.QueryRow(context.Background(), `SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indexrelid = $1::regclass`, index).Scan(&col); err != nil {
		t.Fatal(err)
	}
	return col
}

// params is the number of the query's parameters: its highest $n.
func params(query string) int {
	n := 0
	for _, m := range regexp.MustCompile(`\$([0-9]+)`).FindAllStringSubmatch(query, -1) {
		k, _ := strconv.Atoi(m[1])
		n = max(n, k)
	}
	return n
}

// checksXmin reports whether the index waits for the snapshots older than
// it (pg_index.indcheckxmin).
func checksXmin(t *testing.T, pool *pgxpool.Pool, index string) bool {
	t.Helper()
	var wait bool
	if err := pool.QueryRow(context.Background(), `SELECT indcheckxmin FROM pg_index WHERE indexrelid = $1::regclass`, index).
		Scan(&wait); err != nil {
		t.Fatal(err)
	}
	return wait
}
