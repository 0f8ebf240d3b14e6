package catalog_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestARedemptionSpendsPointsThatCameBackAfterItsStartDatedAfterThem: a
// group of redemptions begins; before it locks its customer, a
// cancellation of the customer's earlier redemption (a second later, so
// dated later) gives the points back and commits; the group then spends
// them. Dated at its transaction's start, the redemption came by date
// before the points it spent, and reconciliation's never_below_zero_by_date
// named the account. It is dated from when it held the lock, as the
// cancellation's points were there (ledger.Tx.Restamp).
func TestARedemptionSpendsPointsThatCameBackAfterItsStartDatedAfterThem(t *testing.T) {
	e := servicetest.NewWith(t, servicetest.Config{})
	e.Customer("C1")
	e.Ship("C1", "S1", "100", servicetest.Start.Add(-time.Hour)) // 100 points
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	if _, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: "r1", CustomerID: "C1", SKU: "pen", Quantity: 1}, "test"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var cancelled time.Time
	catalog.SetBeforeLocks(e.Catalog, func() {
		once.Do(func() {
			e.Clock.Add(time.Second)
			c, err := e.Catalog.CancelRedemption(e.Ctx, "", "r1", "changed my mind", "test")
			if err != nil {
				t.Error(err)
				return
			}
			cancelled = e.Entry(*c.CancelEntryID).EffectiveAt
			e.Clock.Add(time.Second)
		})
	})
	rs, _, errs := e.Catalog.RedeemGroup(e.Ctx, []catalog.RedemptionInput{{ID: "r2", CustomerID: "C1", SKU: "pen", Quantity: 1}}, "test", false)
	if errs[0] != nil {
		t.Fatalf("the second redemption: %v", errs[0])
	}
	if spent := e.Entry(rs[0].EntryID).EffectiveAt; spent.Before(cancelled) {
		t.Errorf("the redemption is dated %v, before the cancellation (%v) whose points it spent", spent, cancelled)
	}
	e.Reconcile()
}
