package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// hotBuckets counts the balance rows of a hot account.
func hotBuckets(t *testing.T, pool *pgxpool.Pool, code string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM balance_buckets b
JOIN accounts a ON a.id = b.account_id WHERE a.code = $1`, code).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// With one bucket every entry adds to the same balance row of a hot
// account; a count below one leaves the default spread (32 rows).
func TestWithHotBuckets(t *testing.T) {
	const entries = 64
	for _, tc := range []struct {
		name     string
		n        int
		spread   bool // more than one row after 64 entries (all 64 in one of 32 buckets: chance 32^-63)
		wantRows int
	}{
		{"One", 1, false, 1},
		{"ZeroKeepsTheDefault", 0, true, 0},
		{"NegativeKeepsTheDefault", -3, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := testdb.Pool(t)
			l := ledger.New(pool, ledger.WithHotBuckets(tc.n))
			for i := range entries {
				mustPost(t, l, earn("C"+string(rune('A'+i%26)), "1"))
			}
			rows := hotBuckets(t, pool, "platform:points:earned:volume")
			if tc.spread && (rows < 2 || rows > ledger.DefaultHotBuckets) {
				t.Errorf("%d entries used %d balance rows of the hot account, want 2..%d", entries, rows, ledger.DefaultHotBuckets)
			}
			if !tc.spread && rows != tc.wantRows {
				t.Errorf("%d entries used %d balance rows of the hot account, want %d", entries, rows, tc.wantRows)
			}
			wantBalance(t, l, "platform:points:earned:volume", "-64")
			mustReconcile(t, l)
		})
	}
}

func TestWithClock(t *testing.T) {
	pool := testdb.Pool(t)
	at := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return at }))
	if !l.Now().Equal(at) {
		t.Fatalf("Now = %s, want the clock's %s", l.Now(), at)
	}
	// An entry without an effective time is effective when the clock says.
	e := mustPost(t, l, earn("C1", "5"))
	if !e.EffectiveAt.Equal(at) {
		t.Errorf("effective at %s, want %s", e.EffectiveAt, at)
	}
	got, err := l.BalanceAsOf(context.Background(), "customer:C1:points", at.Add(-time.Nanosecond))
	if err != nil || !got.IsZero() {
		t.Errorf("balance just before the clock's time = %s, %v; want 0", got, err)
	}

	// A nil clock is no clock: the ledger keeps the real one.
	before := time.Now()
	real := ledger.New(pool, ledger.WithClock(nil)).Now()
	if real.Before(before) || real.After(time.Now()) {
		t.Errorf("WithClock(nil): Now = %s, want the real time", real)
	}
}
