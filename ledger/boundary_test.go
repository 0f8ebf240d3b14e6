package ledger_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// The boundaries of a lot's life, to the microsecond (PostgreSQL's
// precision): a lot is spendable from available_at inclusive until
// expires_at exclusive, and an expiry as of T takes the lots with
// expires_at <= T.

// lotClock is a settable now for the ledger.
type lotClock struct{ t atomic.Pointer[time.Time] }

func (c *lotClock) now() time.Time  { return *c.t.Load() }
func (c *lotClock) set(t time.Time) { c.t.Store(&t) }

func clockedLedger(t *testing.T, at time.Time) (*ledger.Ledger, *pgxpool.Pool, *lotClock) {
	t.Helper()
	pool := testdb.Pool(t)
	c := &lotClock{}
	c.set(at)
	return ledger.New(pool, ledger.WithClock(c.now)), pool, c
}

// lotExpiry is when the lots of these tests expire.
var lotExpiry = time.Date(2027, 4, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

// drawnBy lists, by lot id order, what the entry drew from each of the
// customer's lots.
func drawnBy(t *testing.T, pool *pgxpool.Pool, entryID int64) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT coalesce(d.amount, 0) FROM points_lots l
LEFT JOIN lot_draws d ON d.lot_id = l.id AND d.entry_id = $1 ORDER BY l.id`, entryID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func wantDrawn(t *testing.T, pool *pgxpool.Pool, entryID int64, want ...int64) {
	t.Helper()
	got := drawnBy(t, pool, entryID)
	if len(got) != len(want) {
		t.Fatalf("entry %d drew %v from the lots, want %v", entryID, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("entry %d drew %v from the lots, want %v", entryID, got, want)
		}
	}
}

func TestDebitDrawsALotUntilOneInstantBeforeItExpiresAndNotAtExpiresAt(t *testing.T) {
	l, pool, clock := clockedLedger(t, lotExpiry.AddDate(0, -1, 0))
	ctx := context.Background()
	mustPost(t, l, earnLot("C1", "30", ledger.Lot{ExpiresAt: lotExpiry}))                     // lot A
	mustPost(t, l, earnLot("C1", "20", ledger.Lot{ExpiresAt: lotExpiry.Add(24 * time.Hour)})) // lot B

	clock.set(lotExpiry.Add(-time.Microsecond))
	e := mustPost(t, l, redeem("C1", "10"))
	wantDrawn(t, pool, e.ID, 10, 0) // A is the soonest to expire, and still spendable
	wantRemaining(t, pool, "C1", 20, 20)

	clock.set(lotExpiry)
	// A's 20 are in the balance but expired: only B's 20 can be spent.
	_, _, err := l.Post(ctx, redeem("C1", "21"))
	wantCode(t, err, fault.InsufficientFunds)
	wantRemaining(t, pool, "C1", 20, 20)
	wantBalance(t, l, "customer:C1:points", "40")
	e = mustPost(t, l, redeem("C1", "20"))
	wantDrawn(t, pool, e.ID, 0, 20)
	wantRemaining(t, pool, "C1", 20, 0)
	wantBalance(t, l, "customer:C1:points", "20")
	wantBalance(t, l, "platform:points:redeemed", "30")
	mustReconcile(t, l)
}

func TestLotBecomesSpendableAtExactlyItsAvailableAt(t *testing.T) {
	availableAt := lotExpiry.AddDate(0, -6, 0)
	l, pool, clock := clockedLedger(t, availableAt.AddDate(0, 0, -14))
	ctx := context.Background()
	mustPost(t, l, earnLot("C1", "50", ledger.Lot{AvailableAt: availableAt, ExpiresAt: lotExpiry}))

	clock.set(availableAt.Add(-time.Microsecond))
	_, _, err := l.Post(ctx, redeem("C1", "1"))
	wantCode(t, err, fault.InsufficientFunds)
	wantRemaining(t, pool, "C1", 50)

	clock.set(availableAt)
	e := mustPost(t, l, redeem("C1", "50"))
	wantDrawn(t, pool, e.ID, 50)
	wantRemaining(t, pool, "C1", 0)
	wantBalance(t, l, "customer:C1:points", "0")
	mustReconcile(t, l)
}

func TestExpiryDebitTakesOnlyLotsExpiringAtOrBeforeItsInstant(t *testing.T) {
	l, pool, clock := clockedLedger(t, lotExpiry.AddDate(0, -1, 0))
	ctx := context.Background()
	mustPost(t, l, earnLot("C1", "30", ledger.Lot{ExpiresAt: lotExpiry}))                       // lot A
	mustPost(t, l, earnLot("C1", "20", ledger.Lot{ExpiresAt: lotExpiry.Add(time.Microsecond)})) // lot B
	clock.set(lotExpiry.Add(time.Hour))
	expire := func(points string, by time.Time) ledger.EntryInput {
		return ledger.EntryInput{Kind: "expiry", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "customer:C1:points", Amount: d(points).Neg(), ExpiringBy: &by},
			{Account: "platform:points:expired", Amount: d(points)},
		}}
	}

	// As of one instant before A's expiry, no lot is due.
	_, _, err := l.Post(ctx, expire("30", lotExpiry.Add(-time.Microsecond)))
	wantCode(t, err, fault.InsufficientFunds)
	wantRemaining(t, pool, "C1", 30, 20)

	// As of A's expiry, A is due and B (one instant later) is not.
	e := mustPost(t, l, expire("30", lotExpiry))
	wantDrawn(t, pool, e.ID, 30, 0)
	_, _, err = l.Post(ctx, expire("20", lotExpiry))
	wantCode(t, err, fault.InsufficientFunds)
	wantRemaining(t, pool, "C1", 0, 20)

	e = mustPost(t, l, expire("20", lotExpiry.Add(time.Microsecond)))
	wantDrawn(t, pool, e.ID, 0, 20)
	wantBalance(t, l, "customer:C1:points", "0")
	wantBalance(t, l, "platform:points:expired", "50")
	mustReconcile(t, l)
}
