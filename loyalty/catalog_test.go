package loyalty_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

func ptr[T any](v T) *T { return &v }

func (e *env) product(p loyalty.Product) {
	e.t.Helper()
	if _, err := e.svc.CreateProduct(e.ctx, p); err != nil {
		e.t.Fatalf("product %s: %v", p.SKU, err)
	}
}

var redemptionSeq atomic.Int64

func (e *env) redeem(customer, sku string, q int) (loyalty.Redemption, error) {
	r, _, err := e.svc.Redeem(e.ctx, loyalty.RedemptionInput{ID: fmt.Sprintf("r-%d", redemptionSeq.Add(1)),
		CustomerID: customer, SKU: sku, Quantity: q}, "test")
	return r, err
}

// lots lists (expires_at, remaining) of the customer's lots in id order.
func (e *env) lots(customer string) []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT l.expires_at, l.remaining FROM points_lots l JOIN accounts a ON a.id = l.account_id
WHERE a.code = $1 ORDER BY l.id`, ledger.CustomerAccount(customer, "points"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var at time.Time
		var rem int64
		if err := rows.Scan(&at, &rem); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d", at.In(shanghai).Format("2006-01-02"), rem))
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// stock is the product's stock now.
func (e *env) stock(t testing.TB, sku string) int {
	t.Helper()
	products, err := e.svc.Products(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		if p.SKU == sku {
			if p.Stock == nil {
				t.Fatalf("product %s has no stock", sku)
			}
			return *p.Stock
		}
	}
	t.Fatalf("no product %s", sku)
	return 0
}

func wantLots(t *testing.T, e *env, customer string, want ...string) {
	t.Helper()
	if got := e.lots(customer); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("lots of %s: %v, want %v", customer, got, want)
	}
}

func TestLotsExpireAtTheEndOfTheTwelfthMonth(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	e.ship("C1", "S1", "100", march(15, 10))                                // earned 2026-03-15: expires 2027-04-01 00:00 Shanghai
	e.ship("C1", "S2", "50", time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC)) // 1 February in Shanghai
	var expires time.Time
	e.scan(t, `SELECT min(expires_at) FILTER (WHERE amount = 100) FROM points_lots`, &expires)
	if want := time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai); !expires.Equal(want) {
		t.Errorf("lot expires %s, want %s", expires, want)
	}
	wantLots(t, e, "C1", "2027-04-01:100", "2027-03-01:50")
}

func TestRedemptionsTakeSoonestExpiringLotsAndCancelRestoresThem(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	e.ship("C1", "S1", "100", march(10, 9))                                 // expires 2027-04-01
	e.ship("C1", "S2", "100", time.Date(2026, 1, 10, 9, 0, 0, 0, shanghai)) // expires 2027-02-01
	e.ship("C1", "S3", "100", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai)) // expires 2027-03-01
	e.product(loyalty.Product{SKU: "mug", Name: "Mug", Kind: loyalty.Featured, PointsPrice: 75,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(5)})
	r, err := e.redeem("C1", "mug", 2) // 150 points: all of January's lot, half of February's
	if err != nil {
		t.Fatal(err)
	}
	wantLots(t, e, "C1", "2027-04-01:100", "2027-02-01:0", "2027-03-01:50")
	if s := e.stock(t, "mug"); s != 3 {
		t.Errorf("stock %d, want 3", s)
	}
	c, err := e.svc.CancelRedemption(e.ctx, r.ID, "", "test")
	if err != nil || c.Status != "cancelled" || c.CancelEntryID == nil {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	wantLots(t, e, "C1", "2027-04-01:100", "2027-02-01:100", "2027-03-01:100")
	if s := e.stock(t, "mug"); s != 5 {
		t.Errorf("stock %d after cancel, want 5", s)
	}
	_, err = e.svc.CancelRedemption(e.ctx, r.ID, "", "test")
	wantCode(t, err, fault.AlreadyCancelled)
	e.reconcile()
}

func TestRedemptionRefusals(t *testing.T) {
	e := newEnv(t)
	e.customer("R")
	e.customer("C1", "R")
	e.ship("C1", "S1", "300", march(10, 9)) // 300 points, regular L4; R gets 500, pending until the 24th
	e.product(loyalty.Product{SKU: "pen", Name: "Pen", Kind: loyalty.Standard, PointsPrice: 100})
	e.product(loyalty.Product{SKU: "lamp", Name: "Lamp", Kind: loyalty.Level, PointsPrice: 100, MinLevel: ptr(9)})
	e.product(loyalty.Product{SKU: "early", Name: "Early bird", Kind: loyalty.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(20, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(10)})
	e.product(loyalty.Product{SKU: "gone", Name: "Gone", Kind: loyalty.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(0)})
	e.product(loyalty.Product{SKU: "once", Name: "Once", Kind: loyalty.Featured, PointsPrice: 10,
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
			_, err := e.redeem(tc.customer, tc.sku, tc.q)
			wantCode(t, err, tc.code)
		})
	}
	var n int
	e.scan(t, `SELECT count(*) FROM redemptions`, &n)
	if n != 0 {
		t.Errorf("%d redemptions written by refusals", n)
	}

	t.Run("Catalog", func(t *testing.T) {
		items, err := e.svc.Catalog(e.ctx, "C1")
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
		if _, err := e.redeem("C1", "once", 1); err != nil {
			t.Fatal(err)
		}
		items, err = e.svc.Catalog(e.ctx, "C1")
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
		in := loyalty.RedemptionInput{ID: "same", CustomerID: "C1", SKU: "pen", Quantity: 1}
		first, _, err := e.svc.Redeem(e.ctx, in, "test")
		if err != nil {
			t.Fatal(err)
		}
		again, replayed, err := e.svc.Redeem(e.ctx, in, "test")
		if err != nil || !replayed || again.EntryID != first.EntryID {
			t.Errorf("replay: %+v replayed=%v err=%v", again, replayed, err)
		}
		in.Quantity = 2
		_, _, err = e.svc.Redeem(e.ctx, in, "test")
		wantCode(t, err, fault.IdempotencyConflict)
	})
	e.reconcile()
}

// TestConcurrentRedemptionsRespectStockAndLimits: 50 customers race for a
// stock of 10, and one customer races against their own limit.
func TestConcurrentRedemptionsRespectStockAndLimits(t *testing.T) {
	e := newEnv(t)
	e.product(loyalty.Product{SKU: "rare", Name: "Rare", Kind: loyalty.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(10)})
	e.product(loyalty.Product{SKU: "limited", Name: "Limited", Kind: loyalty.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(100), PerCustomerLimit: ptr(3)})
	for i := range 50 {
		id := fmt.Sprintf("C%02d", i)
		e.customer(id)
		e.ship(id, "S"+id, "100", march(1, 9))
	}
	var ok, out atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := e.redeem(fmt.Sprintf("C%02d", i), "rare", 1)
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
			if _, err := e.redeem("C00", "limited", 1); err == nil {
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
	e.reconcile()
}

func TestExpiryJob(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"C1", "C2", "C3"} {
		e.customer(c)
	}
	e.ship("C1", "S1", "100", time.Date(2026, 1, 10, 9, 0, 0, 0, shanghai)) // expires 2027-02-01
	e.ship("C1", "S2", "40", march(10, 9))                                  // expires 2027-04-01
	e.ship("C2", "S3", "70", time.Date(2026, 1, 20, 9, 0, 0, 0, shanghai))  // expires 2027-02-01
	e.ship("C3", "S4", "10", march(10, 9))
	if _, err := e.redeem("C1", "x", 1); fault.CodeOf(err) != fault.UnknownProduct {
		t.Fatal(err)
	}

	expiring, err := e.svc.Expiring(e.ctx, "C1", 400*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(expiring) != 2 || expiring[0].Date != "2027-02-01" || expiring[0].Points != 100 || expiring[1].Points != 40 {
		t.Errorf("expiring %+v, want 100 on 2027-02-01 then 40", expiring)
	}

	asOf := time.Date(2027, 2, 1, 0, 0, 0, 0, shanghai)
	rep, err := e.svc.Expire(e.ctx, asOf, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 2 || rep.Points != 170 {
		t.Errorf("expiry %+v, want 2 customers, 170 points", rep)
	}
	if p := e.points("C1"); p.Balance != 40 {
		t.Errorf("C1 after expiry: %d, want 40", p.Balance)
	}
	again, err := e.svc.Expire(e.ctx, asOf, "test", nil)
	if err != nil || again.Customers != 0 || again.Points != 0 {
		t.Errorf("second run %+v %v, want nothing posted", again, err)
	}
	var entries int
	e.scan(t, `SELECT count(*) FROM entries WHERE kind = 'expiry'`, &entries)
	if entries != 2 {
		t.Errorf("%d expiry entries, want one per customer: 2", entries)
	}
	e.reconcile()
}

func TestStatementDescribesEntries(t *testing.T) {
	e := newEnv(t)
	e.customer("R")
	e.customer("C1", "R")
	e.ship("C1", "S0", "5000", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
	e.ship("C1", "S1", "123.45", march(10, 9))
	e.mustProcess(e.event(loyalty.ShipmentRefunded, "C1", "S1", "23.45", march(11, 9)))
	e.product(loyalty.Product{SKU: "pen", Name: "Pen", Kind: loyalty.Standard, PointsPrice: 100})
	if _, err := e.redeem("C1", "pen", 2); err != nil {
		t.Fatal(err)
	}
	entries, next, err := e.svc.Statement(e.ctx, "C1", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"200 points redeemed for 2 x Pen (pen)",
		"28 points taken back for the refund of shipment S1",
		"148 points for shipment S1 (mid-tier x1.2)",
	}
	for i, w := range want {
		if i >= len(entries) || entries[i].Description != w {
			t.Errorf("statement line %d: %+v, want %q", i, entries, w)
		}
	}
	if next == 0 {
		t.Fatal("no next page")
	}
	rest, next, err := e.svc.Statement(e.ctx, "C1", next, 3)
	if err != nil || len(rest) != 1 || next != 0 || rest[0].Description != "5000 points for shipment S0 (floating x1)" {
		t.Errorf("last page %+v next %d err %v", rest, next, err)
	}
	if b := entries[0].Movements[0].BalanceAfter; b.IntPart() != 5000+148-28-200 {
		t.Errorf("balance after the redemption %s", b)
	}
	ref, _, err := e.svc.Statement(e.ctx, "R", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != 1 || ref[0].Description != "500 referral points for C1's shipment S0" {
		t.Errorf("referrer statement %+v", ref)
	}
}
