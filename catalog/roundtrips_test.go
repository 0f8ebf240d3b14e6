package catalog_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
)

// TestRedemptionGroupsCostAFixedNumberOfRoundTrips counts what a group of
// redemptions sends PostgreSQL. A group costs the same whatever its size:
// one round trip that begins the transaction, locks the customers and the
// products, reads who owes points, the tiers, the redemptions made under
// the group's ids, the products, what each customer redeemed of each and
// their available points, and reserves the entries' ids; one that writes
// the entries with their lot draws, the redemptions, the stock and the
// notices, and commits.
func TestRedemptionGroupsCostAFixedNumberOfRoundTrips(t *testing.T) {
	pool, counter := testdb.CountedPool(t)
	e := &env{servicetest.NewWith(t, servicetest.Config{Pool: pool})}
	for i := range 10 {
		c := fmt.Sprintf("R%d", i)
		e.Customer(c)
		e.Ship(c, "S"+c, "9000", march(2, 9))
	}
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 1})
	e.Product(catalog.Product{SKU: "kite", Name: "Kite", Kind: catalog.Featured, PointsPrice: 1,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(1000)})
	n := 0
	// cost is the fewest round trips and statements of three groups of
	// count redemptions (the first one prepares the statements).
	cost := func(count int) (trips, sent int) {
		trips, sent = -1, -1
		for round := range 3 {
			ins := make([]catalog.RedemptionInput, count)
			for i := range ins {
				n++
				ins[i] = catalog.RedemptionInput{ID: fmt.Sprintf("r%d", n), CustomerID: fmt.Sprintf("R%d", i%10),
					SKU: []string{"pen", "kite"}[i%2], Quantity: 1}
			}
			tr, st := counter.Measure(func() {
				_, _, errs := e.Catalog.RedeemGroup(e.Ctx, ins, "test", false)
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
			})
			if round > 0 && (trips < 0 || tr < trips) {
				trips, sent = tr, st
			}
		}
		return trips, sent
	}
	trips1, sent1 := cost(2)
	for _, size := range []int{10, 40} {
		if trips, sent := cost(size); trips != trips1 || sent != sent1 {
			t.Errorf("a group of %d redemptions: %d round trips, %d statements; a group of two: %d, %d", size, trips, sent, trips1, sent1)
		}
	}
	if trips1 != 2 {
		t.Errorf("a group of redemptions: %d round trips, want 2", trips1)
	}
	t.Logf("a group of redemptions: %d round trips, %d statements", trips1, sent1)
	if n := e.Catalog.Stats().Fallbacks.Load(); n != 0 {
		t.Errorf("%d groups fell back to redemption by redemption", n)
	}
}
