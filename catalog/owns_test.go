package catalog_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/prepaid"
)

// Owns claims the entries that redemptions and their cancellations record,
// and no other: not a shipment's, not a deposit's.
func TestOwnsTheEntriesOfRedemptionsOnly(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	ship := e.Ship("C1", "S1", "100", march(10, 9))
	dep := e.MustMoney(prepaid.Deposit, "C1", "2000")
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10})
	red, err := e.Redeem("C1", "pen", 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Catalog.CancelRedemption(e.Ctx, "", red.ID, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what  string
		entry int64
		owned bool
	}{
		{"redemption", red.EntryID, true},
		{"cancellation", *c.CancelEntryID, true},
		{"shipment", *ship.EntryID, false},
		{"deposit", dep.EntryID, false},
	} {
		kind := e.Entry(tc.entry).Kind
		if got := catalog.Owns(kind); got != tc.owned {
			t.Errorf("the %s's entry (kind %q): Owns = %t, want %t", tc.what, kind, got, tc.owned)
		}
	}
}
