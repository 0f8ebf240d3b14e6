package loyalty_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// benchEvents is a loyalty service on a fresh database with customers
// C0..C(n-1) and a partner key, and a source of shipments among them.
func benchEvents(b *testing.B, customers int) (svc *loyalty.Service, key ledger.APIKey, next func() loyalty.Event) {
	b.Helper()
	pool := testdb.Pool(b)
	ctx := context.Background()
	at := time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return at }))
	svc = loyalty.New(pool, l)
	for i := range customers {
		if _, _, err := svc.CreateCustomer(ctx, loyalty.Customer{ID: fmt.Sprintf("C%d", i), Name: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	_, key, err := l.CreateKey(ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		b.Fatal(err)
	}
	amount := decimal.RequireFromString("123.45")
	n := 0
	next = func() loyalty.Event {
		n++
		return loyalty.Event{EventID: fmt.Sprintf("ev-%d", n), Type: loyalty.ShipmentCompleted,
			CustomerID: fmt.Sprintf("C%d", n%customers), ShipmentID: fmt.Sprintf("S%d", n), OccurredAt: at, Amount: &amount}
	}
	return svc, key, next
}

// BenchmarkEventBatch500 records batches of 500 shipments of 100
// customers: the grouped path, a few groups per batch.
func BenchmarkEventBatch500(b *testing.B) {
	svc, key, next := benchEvents(b, 100)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		events := make([]loyalty.Event, 500)
		for i := range events {
			events[i] = next()
		}
		b.StartTimer()
		for _, o := range svc.ProcessBatch(ctx, key, "bench", events) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEventAlone records one shipment at a time: a group, and a
// transaction, per event.
func BenchmarkEventAlone(b *testing.B) {
	svc, key, next := benchEvents(b, 100)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if o := svc.ProcessBatch(ctx, key, "bench", []loyalty.Event{next()})[0]; o.Err != nil {
			b.Fatal(o.Err)
		}
	}
}
