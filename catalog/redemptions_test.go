package catalog_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

func TestRedemptionsTakeSoonestExpiringLotsAndCancelRestoresThem(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))                                 // expires 2027-04-01
	e.Ship("C1", "S2", "100", time.Date(2026, 1, 20, 9, 0, 0, 0, shanghai)) // expires 2027-02-01
	e.Ship("C1", "S3", "100", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai)) // expires 2027-03-01
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Featured, PointsPrice: 75,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(5)})
	r, err := e.Redeem("C1", "mug", 2) // 150 points: all of January's lot, half of February's
	if err != nil {
		t.Fatal(err)
	}
	e.WantLots(t, "C1", "2027-04-01:100", "2027-02-01:0", "2027-03-01:50")
	if s := e.stock(t, "mug"); s != 3 {
		t.Errorf("stock %d, want 3", s)
	}
	c, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "", "test")
	if err != nil || c.Status != "cancelled" || c.CancelEntryID == nil {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	e.WantLots(t, "C1", "2027-04-01:100", "2027-02-01:100", "2027-03-01:100")
	if s := e.stock(t, "mug"); s != 5 {
		t.Errorf("stock %d after cancel, want 5", s)
	}
	_, err = e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "", "test")
	servicetest.WantCode(t, err, fault.AlreadyCancelled)
	e.Reconcile()
}

func TestRedemptionRefusals(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("C1", "R")
	e.Ship("C1", "S1", "300", march(10, 9)) // 300 points, regular L4; R gets 500, pending until the 24th
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	e.Product(catalog.Product{SKU: "lamp", Name: "Lamp", Kind: catalog.Level, PointsPrice: 100, MinLevel: ptr(9)})
	e.Product(catalog.Product{SKU: "early", Name: "Early bird", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(20, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(10)})
	e.Product(catalog.Product{SKU: "gone", Name: "Gone", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(0)})
	e.Product(catalog.Product{SKU: "once", Name: "Once", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(10), PerCustomerLimit: ptr(1)})

	for _, tc := range []struct {
		name, customer, sku string
		q                   int
		code                fault.Code
	}{
		{"NotEligible", "C1", "lamp", 1, fault.NotEligible},
		{"OutsideWindow", "C1", "early", 1, fault.OutsideWindow},
		{"OutOfStock", "C1", "gone", 1, fault.OutOfStock},
		{"LimitReached", "C1", "once", 2, fault.LimitReached},
		{"InsufficientPoints", "C1", "pen", 4, fault.InsufficientPoints},
		{"PendingPointsCannotBeRedeemed", "R", "pen", 1, fault.InsufficientPoints},
		{"UnknownProduct", "C1", "ghost", 1, fault.UnknownProduct},
		{"UnknownCustomer", "ghost", "pen", 1, fault.UnknownCustomer},
		{"ZeroQuantity", "C1", "pen", 0, fault.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Redeem(tc.customer, tc.sku, tc.q)
			servicetest.WantCode(t, err, tc.code)
		})
	}
	var n int
	e.Scan(t, `SELECT count(*) FROM redemptions`, &n)
	if n != 0 {
		t.Errorf("%d redemptions written by refusals", n)
	}

	t.Run("Catalog", func(t *testing.T) {
		items, err := e.Catalog.Catalog(e.Ctx, "C1")
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]string{}
		for _, it := range items {
			r := "ok"
			if it.Reason != nil {
				r = string(*it.Reason)
			}
			reasons[it.SKU] = r
		}
		want := map[string]string{"pen": "ok", "lamp": "not_eligible", "early": "outside_window", "gone": "out_of_stock", "once": "ok"}
		for sku, r := range want {
			if reasons[sku] != r {
				t.Errorf("catalog %s: %s, want %s", sku, reasons[sku], r)
			}
		}
		if _, err := e.Redeem("C1", "once", 1); err != nil {
			t.Fatal(err)
		}
		items, err = e.Catalog.Catalog(e.Ctx, "C1")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, it := range items {
			if it.SKU == "once" {
				found = true
				if it.Reason == nil || *it.Reason != fault.LimitReached {
					t.Errorf("after redeeming: once is %v, want limit_reached", it.Reason)
				}
			}
		}
		if !found {
			t.Errorf("once is not in the catalogue: %+v", items)
		}
	})
	t.Run("ReplayAndConflict", func(t *testing.T) {
		in := catalog.RedemptionInput{ID: "same", CustomerID: "C1", SKU: "pen", Quantity: 1}
		first, _, err := e.Catalog.Redeem(e.Ctx, in, "test")
		if err != nil {
			t.Fatal(err)
		}
		again, replayed, err := e.Catalog.Redeem(e.Ctx, in, "test")
		if err != nil || !replayed || again.EntryID != first.EntryID {
			t.Errorf("replay: %+v replayed=%v err=%v", again, replayed, err)
		}
		in.Quantity = 2
		_, _, err = e.Catalog.Redeem(e.Ctx, in, "test")
		servicetest.WantCode(t, err, fault.IdempotencyConflict)
	})
	e.Reconcile()
}

// TestConcurrentRedemptionsRespectStockAndLimits: 50 customers race for a
// stock of 10, and one customer races against their own limit.
func TestConcurrentRedemptionsRespectStockAndLimits(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "rare", Name: "Rare", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(10)})
	e.Product(catalog.Product{SKU: "limited", Name: "Limited", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(100), PerCustomerLimit: ptr(3)})
	for i := range 50 {
		id := fmt.Sprintf("C%02d", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "100", march(1, 9))
	}
	var ok, out atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := e.Redeem(fmt.Sprintf("C%02d", i), "rare", 1)
			switch fault.CodeOf(err) {
			case "":
				ok.Add(1)
			case fault.OutOfStock:
				out.Add(1)
			default:
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || out.Load() != 40 {
		t.Errorf("%d redeemed, %d out of stock; want 10 and 40", ok.Load(), out.Load())
	}
	var limited atomic.Int64
	for range 10 {
		wg.Go(func() {
			if _, err := e.Redeem("C00", "limited", 1); err == nil {
				limited.Add(1)
			} else if fault.CodeOf(err) != fault.LimitReached {
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if limited.Load() != 3 {
		t.Errorf("%d redeemed against a limit of 3", limited.Load())
	}
	if s := e.stock(t, "rare"); s != 0 {
		t.Errorf("rare stock %d, want 0", s)
	}
	e.Reconcile()
}
