package prepaid_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// TestEachMovementHasOneClock runs prepaid money on a clock that moves on a
// second each time it is read, and checks that what one transaction writes
// (the movement's row and its entry) bears one instant.
func TestEachMovementHasOneClock(t *testing.T) {
	pool := testdb.Pool(t)
	start := time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai)
	var reads atomic.Int64
	l := ledger.New(pool, ledger.WithClock(func() time.Time {
		return start.Add(time.Duration(reads.Add(1)) * time.Second)
	}))
	customers := loyalty.New(pool, l)
	svc := prepaid.New(l, customers)
	ctx := context.Background()
	if _, _, err := customers.CreateCustomer(ctx, loyalty.Customer{ID: "C1", Name: "One"}); err != nil {
		t.Fatal(err)
	}

	m, _, err := svc.Deposit(ctx, prepaid.MoneyInput{ID: "d1", CustomerID: "C1", Amount: d("1000")}, "test")
	if err != nil {
		t.Fatal(err)
	}
	dep, err := l.Entry(ctx, m.EntryID)
	if err != nil {
		t.Fatal(err)
	}
	var created time.Time
	if err := pool.QueryRow(ctx, `SELECT created_at FROM money_movements WHERE id = 'd1'`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	for _, v := range []time.Time{created, dep.EffectiveAt, dep.RecordedAt} {
		if !v.Equal(m.OccurredAt) {
			t.Errorf("a deposit sent without a time: occurred %s; recorded, its entry effective and recorded at %s, %s, %s; want one instant",
				m.OccurredAt, created, dep.EffectiveAt, dep.RecordedAt)
			break
		}
	}
}
