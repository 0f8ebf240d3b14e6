package catalog_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestACancellationIsDatedOnceItHoldsTheCustomer (helper-149's finding): C1 owes
// 200 points (a refund in full of a shipment whose points C1 had spent on
// two redemptions). A cancellation of the first redemption begins at T0 and
// waits (here on the redemption's row, as behind a concurrent cancel of the
// same id); meanwhile an admin's manual credit of 100 points, dated T0+10s,
// commits into C1's shared lot. The cancellation then returns its 100
// points, dated T0, and settles what C1 owes from what C1 holds available:
// its own 100 and the manual credit's 100, all dated T0. By date, C1's
// points stand at -100 from T0 to T0+10s. A redemption (redeemTx) and
// every group restamp once they hold the customer's lock, and so must the
// cancellation: the reconciliation's by-date check (never below zero by
// date) fails otherwise.
func TestACancellationIsDatedOnceItHoldsTheCustomer(t *testing.T) {
	e := servicetest.New(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "200", servicetest.Start.Add(-time.Hour)) // 200 points
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	for _, id := range []string{"r1", "r2"} {
		if _, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: id, CustomerID: "C1", SKU: "pen", Quantity: 1}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	e.Clock.Add(time.Minute)
	refund := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "200", e.Clock.Now().Add(-time.Second)))
	if refund.Refund.PointsOwed != 200 {
		t.Fatalf("the refund owes %d, want 200", refund.Refund.PointsOwed)
	}
	e.Clock.Add(time.Minute)

	// The cancellation of r1 begins at T0 and is held between its start and
	// C1's lock (here on r1's row; in production, its first round trip).
	// Meanwhile an admin's manual credit of 100 points, dated T0+10s as the
	// API dates one (the handler's now), commits into C1's shared lot.
	release := e.Hold(`SELECT 1 FROM redemptions WHERE id = 'r1' FOR UPDATE`)
	type res struct {
		r   catalog.Redemption
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := e.Catalog.CancelRedemption(e.Ctx, "", "r1", "changed my mind", "test")
		done <- res{r, err}
	}()
	if n := e.LockWaitersWithin(5*time.Second, 1); n < 1 {
		t.Fatal("the cancellation never waited")
	}
	e.Clock.Add(10 * time.Second)
	now := e.Ledger.Now()
	lot, err := e.Loyalty.LotAt(e.Ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	credit, _, err := e.Prepaid.PostEntry(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "goodwill",
		EffectiveAt: now, Postings: []ledger.PostingInput{
			{Account: "customer:C1:points", Amount: decimal.NewFromInt(100), Lot: lot},
			{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-100)},
		}})
	if err != nil {
		t.Fatal(err)
	}
	release()
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	t.Logf("the cancellation's entry is dated %s, the manual credit %s",
		e.Entry(*got.r.CancelEntryID).EffectiveAt.UTC().Format("15:04:05"), credit.EffectiveAt.UTC().Format("15:04:05"))
	for _, l := range e.Lines(`SELECT id || ' ' || to_char(effective_at AT TIME ZONE 'UTC', 'HH24:MI:SS') || ' ' || metadata::text FROM entries WHERE kind = 'points.settled' ORDER BY id`) {
		t.Logf("settlement %s (the manual credit is dated %s)", l, credit.EffectiveAt.UTC().Format("15:04:05"))
	}
	e.Reconcile()
}
