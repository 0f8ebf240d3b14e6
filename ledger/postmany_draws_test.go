package ledger_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// postDrawLots posts the lots of the draw tests: C1's expiring in
// different months, two of them together, one pending and one expired
// (neither may be drawn); C2's two.
func postDrawLots(t *testing.T, l *ledger.Ledger, now time.Time) {
	t.Helper()
	month := func(m int) time.Time { return time.Date(2027, time.Month(m), 1, 0, 0, 0, 0, time.UTC) }
	past := now.Add(-time.Hour)
	for _, lot := range []struct {
		customer, points   string
		available, expires time.Time
	}{
		{"C1", "30", past, month(9)}, {"C1", "20", past, month(3)}, {"C1", "25", past, month(3)},
		{"C1", "40", now.Add(time.Hour), month(2)}, {"C1", "50", now.Add(-48 * time.Hour), now.Add(-time.Minute)},
		{"C1", "15", past, month(12)}, {"C2", "10", past, month(5)}, {"C2", "10", past, month(4)},
	} {
		mustPost(t, l, earnLot(lot.customer, lot.points, ledger.Lot{AvailableAt: lot.available, ExpiresAt: lot.expires}))
	}
}

// A group of draws written by PostMany takes from each lot what the same
// entries posted one by one take, in the same order: soonest expiry first,
// the older of two lots expiring together first, never a pending or an
// expired lot, several entries of one customer each from what the ones
// before it left, and lots left with the same points.
func TestPostManyDrawsAsPostDrawsOneByOne(t *testing.T) {
	ctx := context.Background()
	draws := []ledger.EntryInput{redeem("C1", "12"), redeem("C2", "15"), redeem("C1", "30"), redeem("C1", "9"),
		redeem("C2", "5"), redeem("C1", "28")} // C1 draws 79 of its 90 available; C2 all of its 20
	var books [2][]string
	for k, together := range []bool{true, false} {
		l, pool := newLedger(t)
		postDrawLots(t, l, time.Now())
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			if together {
				return tx.PostMany(ctx, draws, nil, nil)
			}
			for _, in := range draws {
				if _, err := tx.Post(ctx, in); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("together %v: %v", together, err)
		}
		books[k] = drawBooks(t, pool)
		mustReconcile(t, l)
	}
	if !slices.Equal(books[0], books[1]) {
		t.Errorf("PostMany's draws:\n%v\none by one:\n%v", books[0], books[1])
	}
	if len(books[0]) == 0 {
		t.Fatal("no draws")
	}
}

// drawBooks is every lot (by account and lot order: what it holds) and
// every draw (by the rank of its entry among the draws, and its lot's
// rank), with the balances: the same for the same draws in any database.
func drawBooks(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
WITH lots AS (SELECT l.*, a.code, rank() OVER (PARTITION BY a.code ORDER BY l.id) AS n
              FROM points_lots l JOIN accounts a ON a.id = l.account_id),
     draws AS (SELECT d.*, dense_rank() OVER (ORDER BY d.entry_id) AS e FROM lot_draws d)
SELECT format('lot %s#%s %s of %s', code, n, remaining, amount) FROM lots
UNION ALL
SELECT format('draw %s: %s#%s %s', d.e, l.code, l.n, d.amount) FROM draws d JOIN lots l ON l.id = d.lot_id
UNION ALL
SELECT format('balance %s %s', a.code, sum(b.balance)) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
GROUP BY a.code
ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A draw that the available lots cannot cover fails the whole call, naming
// the account, even where the balance covers it (pending and expired
// points are in the balance): nothing of the call is written.
func TestPostManyRefusesADrawOfPointsThatAreNotAvailable(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	postDrawLots(t, l, time.Now())
	before := drawBooks(t, pool)
	// C1 holds 180 points, of which 90 are available: 60 and then 31.
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, []ledger.EntryInput{redeem("C2", "3"), redeem("C1", "60"), redeem("C1", "31")}, nil, nil)
	})
	wantCode(t, err, fault.InsufficientFunds)
	var e *fault.Error
	if errors.As(err, &e); e.Account != "customer:C1:points" {
		t.Errorf("error names account %q, want customer:C1:points", e.Account)
	}
	if after := drawBooks(t, pool); !slices.Equal(after, before) {
		t.Errorf("a refused call wrote:\n%v\nwas\n%v", after, before)
	}
	for _, last := range []string{"30", "29"} { // the boundary: 90 exactly is available
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			return tx.PostMany(ctx, []ledger.EntryInput{redeem("C1", "60"), redeem("C1", last)}, nil, nil)
		})
		if last == "30" && err != nil {
			t.Errorf("drawing all 90 available points: %v", err)
		}
		if last == "29" && fault.CodeOf(err) != fault.InsufficientFunds {
			t.Errorf("drawing 89 more after all 90: %v, want insufficient funds", err)
		}
	}
	mustReconcile(t, l)
}
