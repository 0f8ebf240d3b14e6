package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// lotsNamed lists, for each entry, the lot its posting on the customer's
// points account names ("-" for none).
func lotsNamed(t *testing.T, pool *pgxpool.Pool, customer string, entries ...*ledger.Entry) []string {
	t.Helper()
	var out []string
	for _, e := range entries {
		var lot *int64
		if err := pool.QueryRow(context.Background(), `SELECT p.lot_id FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE p.entry_id = $1 AND a.code = $2`, e.ID, "customer:"+customer+":points").Scan(&lot); err != nil {
			t.Fatal(err)
		}
		if lot == nil {
			out = append(out, "-")
		} else {
			out = append(out, fmt.Sprint(*lot))
		}
	}
	return out
}

// lotIDs lists the customer's lot ids in order.
func lotIDs(t *testing.T, pool *pgxpool.Pool, customer string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT l.id::text FROM points_lots l JOIN accounts a ON a.id = l.account_id
WHERE a.code = $1 ORDER BY l.id`, "customer:"+customer+":points")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Credits available when posted share one lot per account and expiry,
// alone or in a group (a group's credits to one lot in one row); a credit
// available later opens a lot of its own; each credit's posting names the
// shared lot it went into.
func TestCreditsAvailableAtOnceShareTheLotOfTheirExpiry(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	now := time.Now()
	e1, e2 := now.AddDate(1, 0, 0), now.AddDate(2, 0, 0)
	c1 := mustPost(t, l, earnLot("C1", "10", ledger.Lot{ExpiresAt: e1}))
	c2 := mustPost(t, l, earnLot("C1", "20", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: e1}))
	group := []ledger.EntryInput{
		earnLot("C1", "5", ledger.Lot{ExpiresAt: e1}),
		earnLot("C1", "7", ledger.Lot{ExpiresAt: e1}),
		earnLot("C1", "3", ledger.Lot{ExpiresAt: e2}),
		earnLot("C1", "100", ledger.Lot{AvailableAt: now.Add(14 * 24 * time.Hour), ExpiresAt: e1}),
		earnLot("C2", "9", ledger.Lot{ExpiresAt: e1}),
	}
	var posted []*ledger.Entry
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, group, nil, func(ids []int64, _ *pgx.Batch) error {
			for _, id := range ids[:len(group)] {
				posted = append(posted, &ledger.Entry{ID: id})
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	wantRemaining(t, pool, "C1", 42, 3, 100) // 10 + 20 + 5 + 7; 3; 100
	ids := lotIDs(t, pool, "C1")
	shared, later := ids[0], ids[1]
	if got, want := lotsNamed(t, pool, "C1", c1, c2, posted[0], posted[1], posted[2], posted[3]),
		[]string{shared, shared, shared, shared, later, "-"}; !slices.Equal(got, want) {
		t.Errorf("the lots the credits name: %v, want %v", got, want)
	}
	wantRemaining(t, pool, "C2", 9)
	if got := lotsNamed(t, pool, "C2", posted[4]); got[0] == shared || got[0] == "-" {
		t.Errorf("C2's credit names lot %s, not a lot of C2's", got[0])
	}
	// The pending credit is not available; the shared ones are.
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		s, err := tx.LotSummary(ctx, "customer:C1:points", now)
		if err == nil && (s.Available != 45 || s.Pending != 100 || s.Balance != 145) {
			err = fmt.Errorf("summary %+v, want 45 available, 100 pending, 145 in all", s)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	mustReconcile(t, l)
}

// Undoing a credit that went into a shared lot takes its points from that
// lot, no more than it gave, and is refused while the lot holds less; a
// cancelled draw returns its points to the shared lot whatever was
// credited to it since.
func TestUndoingACreditTakesItsPointsFromItsSharedLot(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	now := time.Now()
	soon, later := now.AddDate(0, 6, 0), now.AddDate(1, 0, 0)
	c1 := mustPost(t, l, earnLot("C1", "10", ledger.Lot{ExpiresAt: later}))
	c2 := mustPost(t, l, earnLot("C1", "20", ledger.Lot{ExpiresAt: later}))
	mustPost(t, l, earnLot("C1", "50", ledger.Lot{ExpiresAt: soon})) // drawn first, never the credit's
	spend := mustPost(t, l, redeem("C1", "75"))
	wantRemaining(t, pool, "C1", 5, 0)

	undo := func(e *ledger.Entry) error {
		_, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "t", Reason: "wrong"})
		return err
	}
	// 5 points left in the lot: neither credit can be taken back, nor from
	// another lot.
	mustPost(t, l, earnLot("C1", "40", ledger.Lot{ExpiresAt: now.AddDate(2, 0, 0)}))
	wantCode(t, undo(c2), fault.InsufficientFunds)
	wantCode(t, undo(c1), fault.InsufficientFunds)
	wantRemaining(t, pool, "C1", 5, 0, 40)

	if err := undo(spend); err != nil { // back to the lots it came from
		t.Fatal(err)
	}
	wantRemaining(t, pool, "C1", 30, 50, 40)
	mustPost(t, l, earnLot("C1", "7", ledger.Lot{ExpiresAt: later}))
	wantRemaining(t, pool, "C1", 37, 50, 40)
	if err := undo(c2); err != nil {
		t.Fatal(err)
	}
	wantRemaining(t, pool, "C1", 17, 50, 40)
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		left, err := tx.LotRemaining(ctx, "customer:C1:points", c1.ID)
		if err == nil && left != 17 {
			err = fmt.Errorf("what is left of c1's lot: %d, want 17", left)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
	wantCode(t, undo(c2), fault.AlreadyReversed)
	if err := undo(c1); err != nil {
		t.Fatal(err)
	}
	wantRemaining(t, pool, "C1", 7, 50, 40)
	mustReconcile(t, l)
}

// A credit to a shared lot changes no indexed value: PostgreSQL updates
// the lot's row in place of an index entry (a heap-only tuple), which is
// what sharing saves. An index naming remaining, even in a predicate,
// would make every such update enter every index.
func TestACreditToASharedLotEntersNoIndex(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "10"))
	mustPost(t, l, redeem("C1", "4"))
	for _, alone := range []bool{true, false} {
		if err := l.InTx(ctx, func(tx *ledger.Tx) error {
			// The counts of this session not yet reported: before and after.
			counts := func() (updated, hot int64, err error) {
				err = tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated('points_lots'::regclass),
    pg_stat_get_xact_tuples_hot_updated('points_lots'::regclass)`).Scan(&updated, &hot)
				return
			}
			updated0, hot0, err := counts()
			if err != nil {
				return err
			}
			if alone {
				_, err = tx.Post(ctx, earn("C1", "3"))
			} else {
				err = tx.PostMany(ctx, []ledger.EntryInput{earn("C1", "3"), earn("C1", "2")}, nil, nil)
			}
			if err != nil {
				return err
			}
			updated, hot, err := counts()
			if err != nil {
				return err
			}
			if updated-updated0 != 1 || hot-hot0 != 1 {
				return fmt.Errorf("alone %v: %d lot rows updated, %d of them heap-only; want the one, heap-only",
					alone, updated-updated0, hot-hot0)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	mustReconcile(t, l)
}
