package catalog_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestTogetherEqualsEachOnAdversarialGroups: groups made together answer
// as the same groups made redemption by redemption when customers repeat
// in any order, with several skus each, duplicate (customer, sku) pairs,
// per-customer limits partly used by earlier redemptions (some cancelled,
// some without an entry), a customer without a points account, and a
// group of 500.
func TestTogetherEqualsEachOnAdversarialGroups(t *testing.T) {
	together, each := newEnv(t), newEnv(t)
	custs := []string{"Z9", "A0", "M5", "B1", "NOPTS", "q7", "C2", "K3"}
	for _, e := range []*env{together, each} {
		for c, id := range custs {
			e.Customer(id)
			if id == "NOPTS" {
				continue
			}
			e.Ship(id, "S"+id+"a", fmt.Sprint(100+c*700), time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
			e.Ship(id, "S"+id+"b", "150", march(2, 9))
		}
		e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 3})
		e.Product(catalog.Product{SKU: "lim", Name: "Lim", Kind: catalog.Featured, PointsPrice: 2,
			ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(400), PerCustomerLimit: ptr(3)})
		e.Product(catalog.Product{SKU: "lim2", Name: "Lim2", Kind: catalog.Featured, PointsPrice: 1,
			ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(1000), PerCustomerLimit: ptr(5)})
		// history: redemptions, one cancelled, one row without an entry
		for _, c := range []string{"A0", "M5", "B1"} {
			for _, sku := range []string{"lim", "lim2"} {
				if _, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: "h-" + c + sku, CustomerID: c, SKU: sku, Quantity: 1}, "test"); err != nil {
					t.Fatal(err)
				}
			}
		}
		r, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: "h-cancel", CustomerID: "A0", SKU: "lim", Quantity: 1}, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Catalog.CancelRedemption(e.Ctx, r.Space, r.ID, "test", "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Pool.Exec(e.Ctx, `INSERT INTO redemptions (space, id, customer_id, sku, quantity, request_hash, created_at, points)
SELECT space, 'noentry', customer_id, sku, 2, request_hash, created_at, points FROM redemptions WHERE customer_id = 'M5' AND sku = 'lim' LIMIT 1`); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	for g, n := range []int{1, 2, 7, 40, 500} {
		ins := make([]catalog.RedemptionInput, n)
		for i := range ins {
			ins[i] = catalog.RedemptionInput{ID: fmt.Sprintf("v%d-%d", g, i), CustomerID: custs[r.IntN(len(custs))],
				SKU: []string{"pen", "lim", "lim2", "lim", "nope"}[r.IntN(5)], Quantity: 1 + r.IntN(2)}
		}
		a := together.answers(together.Catalog.RedeemGroup(together.Ctx, ins, "test", false))
		b := each.answers(each.Catalog.RedeemGroup(each.Ctx, ins, "test", true))
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("group %d, %s: together\n  %s\neach\n  %s", g, ins[i].ID, a[i], b[i])
			}
		}
	}
	if n := together.Catalog.Stats().Fallbacks.Load(); n != 0 {
		t.Errorf("%d groups fell back, want none", n)
	}
	if diff := servicetest.DiffLines(together.redemptionBooks(t), each.redemptionBooks(t)); diff != "" {
		t.Errorf("the books differ (+ together, - each):\n%s", diff)
	}
}
