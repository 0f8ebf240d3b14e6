package catalog_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestEachTransactionOfTheCatalogueHasOneClock runs the catalogue on a clock
// that moves on a second each time it is read, and checks that what one
// transaction writes (the redemption's row and its entry) bears one instant.
func TestEachTransactionOfTheCatalogueHasOneClock(t *testing.T) {
	pool := testdb.Pool(t)
	start := time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai)
	var reads atomic.Int64
	l := ledger.New(pool, ledger.WithClock(func() time.Time {
		return start.Add(time.Duration(reads.Add(1)) * time.Second)
	}))
	customers := loyalty.New(pool, l)
	svc := catalog.New(pool, l, customers)
	ctx := context.Background()
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

	if _, _, err := customers.CreateCustomer(ctx, loyalty.Customer{ID: "C1", Name: "One"}); err != nil {
		t.Fatal(err)
	}
	_, key, err := l.CreateKey(ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	amount := d("1000")
	if o := customers.ProcessBatch(ctx, key.ID, "test", []loyalty.Event{{EventID: "e1", Type: loyalty.ShipmentCompleted,
		CustomerID: "C1", ShipmentID: "S1", Amount: &amount, OccurredAt: start.Add(-time.Hour)}})[0]; o.Err != nil {
		t.Fatal(o.Err)
	}

	if _, err := svc.CreateProduct(ctx, catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10}); err != nil {
		t.Fatal(err)
	}
	r, _, err := svc.Redeem(ctx, catalog.RedemptionInput{ID: "r1", CustomerID: "C1", SKU: "pen", Quantity: 1}, "test")
	if err != nil {
		t.Fatal(err)
	}
	red := entry(r.EntryID)
	same("a redemption created, its entry effective and recorded", r.CreatedAt, red.EffectiveAt, red.RecordedAt)
	c, err := svc.CancelRedemption(ctx, "r1", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	cancel := entry(*c.CancelEntryID)
	same("a redemption cancelled, its entry effective and recorded", *c.CancelledAt, cancel.EffectiveAt, cancel.RecordedAt)
}
