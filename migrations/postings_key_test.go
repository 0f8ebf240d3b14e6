package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// postingIndexes are the indexes of postings after 0034, with the columns
// of their keys.
var postingIndexes = []string{
	"postings_account_effective (account_id, effective_at) INCLUDE (amount)",
	"postings_account_id (account_id, id) INCLUDE (amount)",
	"postings_account_xid (account_id, xid, entry_id) INCLUDE (amount)",
	"postings_pkey (entry_id, account_id)",
}

// postingLookUps are the reads of a posting by identity, each with the
// index that must serve it after 0034 and the conditions its probe must
// carry: the one the dropped id index could have served among them.
var postingLookUps = []struct {
	name, query, index string
	cond               []string
}{
	{"a statement's cursor posting (hotStatement)", `SELECT xid FROM postings WHERE id = $2 AND account_id = $1`,
		"postings_account_id", []string{"(account_id = $1)", "(id = $2)"}},
	{"an entry's postings (ledger.Entry)", `SELECT account_id, amount FROM postings WHERE entry_id = $1`,
		"postings_pkey", []string{"(entry_id = $1)"}},
	{"the sealer's postings of a block (qSealPostings)", `SELECT entry_id, amount FROM postings WHERE entry_id BETWEEN $1 AND $2`,
		"postings_pkey", []string{"(entry_id >= $1)", "(entry_id <= $2)"}},
}

// Migrations 0033 and 0034, applied to a database the services wrote to: every row
// of every table is as it was; postings are keyed by (entry, account) and
// keep four indexes, each naming its query; every read of a posting by
// identity probes an index on a generic plan; a second posting of an
// account in an entry is still refused; and the services go on writing
// books that prove, statements paged by their cursors among them. Rolled
// back, the schema is 0032's again, rows intact.
func TestPostingsKeyedByEntryMigrationKeepsEveryRowAndNamesEachIndexsQuery(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 32)
	atHead(t, m, 32, func() { writeBusiness(t, e, "before") })
	rowsAt32 := tableDigests(t, pool)
	indexesAt32 := indexKeys(t, pool, "postings")
	if strings.HasPrefix(rowsAt32["postings"], "0 rows") {
		t.Fatal("at 0032 postings has no rows: the test proves nothing")
	}

	if err := m.Migrate(34); err != nil {
		t.Fatalf("0033 and 0034 up: %v", err)
	}
	wantSameRows(t, "after 0034", rowsAt32, tableDigests(t, pool))
	if got := indexKeys(t, pool, "postings"); fmt.Sprint(got) != fmt.Sprint(postingIndexes) {
		t.Errorf("postings' indexes after 0034:\n %v\nwant\n %v", got, postingIndexes)
	}
	var primary string
	if err := pool.QueryRow(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = 'postings'::regclass AND contype = 'p'`).
		Scan(&primary); err != nil || primary != "postings_pkey" {
		t.Errorf("postings' primary key: %q, %v; want postings_pkey", primary, err)
	}
	for ix, comment := range indexCommentsOf(t, pool, []string{"postings"}) {
		if len(comment) < 20 {
			t.Errorf("index %s names no query in its comment: %q", ix, comment)
		}
	}
	for _, l := range postingLookUps {
		plan := planAmongManyPostings(t, pool, l.query)
		ok := strings.Contains(plan, "using "+l.index+" on") && !strings.Contains(plan, "Seq Scan")
		for _, c := range l.cond {
			ok = ok && strings.Contains(indexCond(plan), c)
		}
		if !ok {
			t.Errorf("%s: its generic plan does not probe %s by %v:\n%s", l.name, l.index, l.cond, plan)
		}
	}
	// One posting per account per entry, as before: a copy of a posting
	// (the append-only trigger lets inserts through) is refused by the key.
	_, err := pool.Exec(ctx, `INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at)
SELECT entry_id, account_id, asset, amount, balance_after, effective_at FROM postings LIMIT 1`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "postings_pkey" {
		t.Errorf("a second posting of an account in an entry: %v, want 23505 on postings_pkey", err)
	}

	// The services write on it (on their own schema, the latest, migrated
	// back to 0034 after), statements page by their cursors (a customer's
	// account and a platform one, whose cursor is looked up by account and
	// id), and the books prove.
	atHead(t, m, 34, func() {
		writeBusiness(t, e, "after")
		for _, code := range []string{"customer:C01:points", "platform:points:earned:volume"} {
			seen, cursor := 0, int64(0)
			for {
				lines, next, err := e.Ledger.Statement(ctx, code, cursor, 7)
				if err != nil {
					t.Fatalf("%s's statement from %d: %v", code, cursor, err)
				}
				seen += len(lines)
				if next == 0 {
					break
				}
				cursor = next
			}
			var want int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM postings p JOIN accounts a ON a.id = p.account_id WHERE a.code = $1`,
				code).Scan(&want); err != nil {
				t.Fatal(err)
			}
			if seen != want || want < 8 {
				t.Errorf("%s's statement shows %d postings in pages of 7; the account has %d (want more than a page)", code, seen, want)
			}
		}
	})
	proveBooks(t, m, e, url)

	// Rolled back: 0032's indexes, the rows as they were.
	rowsAt34 := tableDigests(t, pool)
	if err := m.Migrate(32); err != nil {
		t.Fatalf("0034 and 0033 down: %v", err)
	}
	wantSameRows(t, "after 0034 and 0033 down", rowsAt34, tableDigests(t, pool))
	if got := indexKeys(t, pool, "postings"); fmt.Sprint(got) != fmt.Sprint(indexesAt32) {
		t.Errorf("postings' indexes after 0034 and 0033 down:\n %v\nwant 0032's\n %v", got, indexesAt32)
	}
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up again: %v", err)
	}
}

// planAmongManyPostings is the query's generic plan (its parameters NULL)
// once 40,000 more postings, of 20,000 entries between a platform account
// and a customer's, are in the table and analysed: among the few rows the
// test writes, an index that filters a whole account's postings costs the
// same as one that probes for the row, and the planner may take either.
// The rows are written in a transaction that is rolled back.
func planAmongManyPostings(t *testing.T, pool *pgxpool.Pool, query string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `PREPARE postings_plan AS `+query, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `DEALLOCATE postings_plan`, pgx.QueryExecModeSimpleProtocol)
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", params(query)), ", ")
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`WITH e AS (INSERT INTO entries (kind, effective_at, request_hash, actor)
    SELECT 'seed', now(), '\x00', 'test' FROM generate_series(1, 20000) RETURNING id)
INSERT INTO postings (entry_id, account_id, asset, amount, effective_at)
SELECT e.id, a.id, 'PTS', CASE WHEN a.code LIKE 'platform:%' THEN -1 ELSE 1 END, now()
FROM e CROSS JOIN accounts a WHERE a.code IN ('platform:points:earned:volume', 'customer:C01:points')`,
		`ANALYZE postings`,
		`SET LOCAL plan_cache_mode = force_generic_plan`,
		`SET LOCAL jit = off`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows, err := tx.Query(ctx, `EXPLAIN EXECUTE postings_plan(`+nulls+`)`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
