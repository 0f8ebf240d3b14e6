package loyalty_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestEachTransactionOfTheServiceHasOneClock runs the service on a clock
// that moves on a second each time it is read, and checks that what one
// transaction writes (the loyalty rows and the entries) bears one instant.
// catalog and prepaid check their own transactions the same way.
func TestEachTransactionOfTheServiceHasOneClock(t *testing.T) {
	pool := testdb.Pool(t)
	start := time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai)
	var reads atomic.Int64
	l := ledger.New(pool, ledger.WithClock(func() time.Time {
		return start.Add(time.Duration(reads.Add(1)) * time.Second)
	}))
	svc := loyalty.New(pool, l)
	ctx := context.Background()
	at := func(query string, args ...any) time.Time {
		t.Helper()
		var v time.Time
		if err := pool.QueryRow(ctx, query, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return v
	}
	entry := func(id int64) *ledger.Entry {
		t.Helper()
		e, err := l.Entry(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	same := func(what string, times ...time.Time) {
		t.Helper()
		for _, v := range times[1:] {
			if !v.Equal(times[0]) {
				t.Errorf("%s at %v, want one instant", what, times)
				return
			}
		}
	}

	if _, _, err := svc.CreateCustomer(ctx, loyalty.Customer{ID: "C1", Name: "One"}); err != nil {
		t.Fatal(err)
	}
	same("a customer and their points account created",
		at(`SELECT created_at FROM customers WHERE id = 'C1'`), at(`SELECT created_at FROM accounts WHERE code = 'customer:C1:points'`))

	_, key, err := l.CreateKey(ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	amount := d("1000")
	o := svc.ProcessBatch(ctx, key.ID, "test", []loyalty.Event{{EventID: "e1", Type: loyalty.ShipmentCompleted,
		CustomerID: "C1", ShipmentID: "S1", Amount: &amount, OccurredAt: start.Add(-time.Hour)}})[0]
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	same("an event recorded and its entry recorded", at(`SELECT created_at FROM events WHERE event_id = 'e1'`),
		entry(*o.Result.EntryID).RecordedAt)
}
