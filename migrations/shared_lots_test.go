package migrations_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
)

// legacyCredit writes, in SQL, a credit of points as the ledger of 0035
// wrote it: the entry, the customer's balance and the platform's, the two
// postings (the customer's with its balance after), and a lot of its own,
// available since 2020.
func legacyCredit(t *testing.T, pool *pgxpool.Pool, customer string, points int64, expires time.Time) int64 {
	t.Helper()
	ctx := context.Background()
	// (The arguments are pointers: a step's are read when it runs.)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	code := "customer:" + customer + ":points"
	var entry, cust, platform int64
	var after decimal.Decimal
	for _, step := range []struct {
		q    string
		args []any
		into []any
	}{
		{q: `INSERT INTO accounts (code, asset, allow_negative, created_at) VALUES ($1, 'PTS', false, now()),
    ('platform:points:earned:volume', 'PTS', true, now()) ON CONFLICT (code) DO NOTHING`, args: []any{code}},
		{q: `SELECT (SELECT id FROM accounts WHERE code = $1), (SELECT id FROM accounts WHERE code = 'platform:points:earned:volume')`,
			args: []any{code}, into: []any{&cust, &platform}},
		{q: `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance) VALUES ($1, 0, false, $2), ($3, 0, true, -$2)
ON CONFLICT (account_id, bucket) DO UPDATE SET balance = balance_buckets.balance + excluded.balance`, args: []any{&cust, points, &platform}},
		{q: `SELECT balance FROM balance_buckets WHERE account_id = $1 AND bucket = 0`, args: []any{&cust}, into: []any{&after}},
		// Dated before the clock of the test's ledger stands (servicetest's
		// March 2026), as credits recorded before it.
		{q: `INSERT INTO entries (kind, effective_at, actor) VALUES ('adjustment', '2026-01-01T00:00:00Z', 'legacy') RETURNING id`, into: []any{&entry}},
		{q: `INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at)
VALUES ($1, $2, 'PTS', $3, $4, '2026-01-01T00:00:00Z'), ($1, $5, 'PTS', -$3, NULL, '2026-01-01T00:00:00Z')`, args: []any{&entry, &cust, points, &after, &platform}},
		{q: `INSERT INTO points_lots (account_id, entry_id, amount, remaining, available_at, expires_at)
VALUES ($2, $1, $3, $3, '2020-01-01T00:00:00Z', $4)`, args: []any{&entry, &cust, points, expires}},
	} {
		var err error
		if step.into != nil {
			err = tx.QueryRow(ctx, step.q, step.args...).Scan(step.into...)
		} else {
			_, err = tx.Exec(ctx, step.q, step.args...)
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, step.q)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return entry
}

// Migration 0036, applied to lots written one per credit (as every release
// before it wrote them): every row is as it was, each lot now of its own
// (shared false) and open while it holds points; a new credit opens a
// shared lot beside them, never joins one of them; draws still take the
// soonest expiry and the older lot first; undoing an old credit takes
// from its own lot; the books prove. Rolled back, the rows stay (the
// columns with them), and applied again it keeps them.
func TestSharedLotsMigrationKeepsTheLotsOfTheirOwn(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 35)
	expires := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	first := legacyCredit(t, pool, "L1", 30, expires)
	second := legacyCredit(t, pool, "L1", 20, expires)
	third := legacyCredit(t, pool, "L2", 5, expires.AddDate(0, -1, 0))
	const oldColumns = `SELECT md5(string_agg(r::text, E'\n' ORDER BY r::text)) FROM (%s) r`
	qLots := `SELECT id, account_id, entry_id, amount, remaining, available_at, expires_at FROM points_lots`
	qPostings := `SELECT id, entry_id, account_id, asset, amount, balance_after, effective_at FROM postings`
	var lotsAt35, postingsAt35 string
	e.Scan(t, fmt.Sprintf(oldColumns, qLots), &lotsAt35)
	e.Scan(t, fmt.Sprintf(oldColumns, qPostings), &postingsAt35)
	rowsAt35 := tableDigests(t, pool)

	if err := m.Migrate(36); err != nil {
		t.Fatalf("0036 up: %v", err)
	}
	after := tableDigests(t, pool)
	for table, digest := range rowsAt35 {
		if table != "points_lots" && table != "postings" && after[table] != digest {
			t.Errorf("after 0036, %s changed", table)
		}
	}
	var lots, postings string
	e.Scan(t, fmt.Sprintf(oldColumns, qLots), &lots)
	e.Scan(t, fmt.Sprintf(oldColumns, qPostings), &postings)
	if lots != lotsAt35 || postings != postingsAt35 {
		t.Errorf("after 0036 the lots or the postings changed")
	}
	var shared, closed, named int
	e.Scan(t, `SELECT count(*) FILTER (WHERE shared), count(*) FILTER (WHERE open <> (remaining > 0)),
    (SELECT count(*) FROM postings WHERE lot_id IS NOT NULL) FROM points_lots`, &shared, &closed, &named)
	if shared != 0 || closed != 0 || named != 0 {
		t.Errorf("after 0036: %d lots shared, %d open wrong, %d postings naming a lot; want none", shared, closed, named)
	}

	// A new credit of the same expiry opens a shared lot of its own.
	credit := ledger.EntryInput{Kind: "earn", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:points:earned:volume", Amount: decimal.NewFromInt(-7)},
		{Account: "customer:L1:points", Amount: decimal.NewFromInt(7), Lot: &ledger.Lot{ExpiresAt: expires}},
	}}
	for range 2 {
		if _, _, err := e.Ledger.Post(ctx, credit); err != nil {
			t.Fatal(err)
		}
	}
	wantLots := func(when, want string) {
		t.Helper()
		var got string
		e.Scan(t, `SELECT string_agg(l.remaining || (CASE WHEN l.shared THEN 's' ELSE '' END), ' ' ORDER BY l.id)
FROM points_lots l JOIN accounts a ON a.id = l.account_id WHERE a.code = 'customer:L1:points'`, &got)
		if got != want {
			t.Errorf("%s: L1's lots %q, want %q", when, got, want)
		}
	}
	wantLots("two new credits", "30 20 14s")
	spend := ledger.EntryInput{Kind: "redeem", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "customer:L1:points", Amount: decimal.NewFromInt(-35)},
		{Account: "platform:points:redeemed", Amount: decimal.NewFromInt(35)},
	}}
	if _, _, err := e.Ledger.Post(ctx, spend); err != nil {
		t.Fatal(err)
	}
	wantLots("a spend of 35", "0 15 14s")
	if _, _, err := e.Ledger.Reverse(ctx, second, ledger.ReversalInput{Actor: "test", Reason: "wrong"}); err == nil {
		t.Errorf("the second old credit, 15 of its 20 left, was taken back")
	}
	if _, _, err := e.Ledger.Reverse(ctx, first, ledger.ReversalInput{Actor: "test", Reason: "wrong"}); err == nil {
		t.Errorf("the first old credit, spent, was taken back")
	}
	wantLots("refused reversals", "0 15 14s")
	if _, _, err := e.Ledger.Reverse(ctx, third, ledger.ReversalInput{Actor: "test", Reason: "wrong"}); err != nil {
		t.Errorf("an old credit still whole: %v", err)
	}
	var l2 int64
	e.Scan(t, `SELECT sum(l.remaining) FROM points_lots l JOIN accounts a ON a.id = l.account_id WHERE a.code = 'customer:L2:points'`, &l2)
	if l2 != 0 {
		t.Errorf("L2's lots hold %d after its one credit was taken back, want 0", l2)
	}
	if err := e.Ledger.InTx(ctx, func(tx *ledger.Tx) error {
		left, err := tx.LotRemaining(ctx, "customer:L1:points", second)
		if err == nil && left != 15 {
			t.Errorf("what is left of the second credit's own lot: %d, want 15", left)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	proveBooks(t, m, e, url)

	rowsAt36 := tableDigests(t, pool)
	if err := m.Migrate(35); err != nil {
		t.Fatalf("0036 down: %v", err)
	}
	wantSameRows(t, "after 0036 down", rowsAt36, tableDigests(t, pool))
	if err := m.Migrate(36); err != nil {
		t.Fatalf("up again: %v", err)
	}
	wantSameRows(t, "after 0036 up again", rowsAt36, tableDigests(t, pool))
}
