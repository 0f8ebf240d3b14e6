package ledger_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// tickingClock moves on a second each time it is read: whatever reads the
// clock on its own gets an instant of its own.
type tickingClock struct {
	start time.Time
	reads atomic.Int64
}

func (c *tickingClock) now() time.Time {
	return c.start.Add(time.Duration(c.reads.Add(1)) * time.Second)
}

// instants lists the distinct values of a timestamp column, oldest first.
func instants(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, query string, args ...any) []time.Time {
	t.Helper()
	rows, err := db.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantInstants(t *testing.T, what string, got []time.Time, want time.Time) {
	t.Helper()
	if len(got) != 1 || !got[0].Equal(want) {
		t.Errorf("%s at %v, want all at %s", what, got, want)
	}
}

func TestATransactionHasOneClock(t *testing.T) {
	pool := testdb.Pool(t)
	clock := &tickingClock{start: time.Date(2026, 3, 15, 4, 0, 0, 0, time.UTC)}
	l := ledger.New(pool, ledger.WithClock(clock.now))
	ctx := context.Background()

	var began time.Time
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		began = tx.Now()
		if err := tx.OpenAccounts(ctx, "customer:C1:prepaid"); err != nil {
			return err
		}
		// A lot available at once, and a debit drawing on it: available at
		// the instant the transaction began, so at the debit's instant too.
		credit := earn("C1", "10")
		credit.Postings[1].Lot = &ledger.Lot{ExpiresAt: began.AddDate(1, 0, 0)}
		if _, err := tx.Post(ctx, credit); err != nil {
			return err
		}
		if _, err := tx.Post(ctx, redeem("C1", "4")); err != nil {
			return err
		}
		if err := tx.Savepoint(ctx, func(sp *ledger.Tx) error {
			if !sp.Now().Equal(began) {
				t.Errorf("a savepoint's Now is %s, its transaction's %s", sp.Now(), began)
			}
			_, err := sp.Post(ctx, earn("C2", "5"))
			return err
		}); err != nil {
			return err
		}
		return tx.PostMany(ctx, []ledger.EntryInput{earn("C3", "1"), earn("C4", "2")}, nil, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if began.IsZero() || clock.reads.Load() != 1 {
		t.Fatalf("the transaction read the clock %d times (began %s), want once", clock.reads.Load(), began)
	}
	wantInstants(t, "entries recorded", instants(t, pool, `SELECT DISTINCT recorded_at FROM entries`), began)
	wantInstants(t, "entries effective", instants(t, pool, `SELECT DISTINCT effective_at FROM entries`), began)
	wantInstants(t, "postings effective", instants(t, pool, `SELECT DISTINCT effective_at FROM postings`), began)
	wantInstants(t, "accounts created", instants(t, pool, `SELECT DISTINCT created_at FROM accounts`), began)
	wantInstants(t, "lots available", instants(t, pool, `SELECT DISTINCT available_at FROM points_lots`), began)

	// A Post outside a transaction is a transaction of its own: one
	// instant, a later one.
	e := mustPost(t, l, earn("C1", "1"))
	if !e.EffectiveAt.After(began) || !e.RecordedAt.Equal(e.EffectiveAt) {
		t.Errorf("a later entry effective %s, recorded %s: want one instant after %s", e.EffectiveAt, e.RecordedAt, began)
	}
	wantInstants(t, "its lot available", instants(t, pool, `SELECT available_at FROM points_lots WHERE entry_id = $1`, e.ID),
		e.EffectiveAt)
}
