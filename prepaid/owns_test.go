package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/prepaid"
)

// Owns claims the entries that deposits, charges and withdrawals record,
// and no other: not a shipment's, not a redemption's, not a reversal's.
func TestOwnsTheEntriesOfMoneyMovementsOnly(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	ship := e.Ship("C1", "S9", "100", march(10, 9))
	dep := e.MustMoney(prepaid.Deposit, "C1", "2000")
	chg := e.MustMoney(prepaid.Charge, "C1", "100")
	wd := e.MustMoney(prepaid.Withdrawal, "C1", "100")
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10})
	red, err := e.Redeem("C1", "pen", 1)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Withdrawal, "", wd.ID, "test", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what  string
		entry int64
		owned bool
	}{
		{"deposit", dep.EntryID, true},
		{"charge", chg.EntryID, true},
		{"withdrawal", wd.EntryID, true},
		{"shipment", *ship.EntryID, false},
		{"redemption", red.EntryID, false},
		{"reversal of a withdrawal", *rev.ReversalEntryID, false},
	} {
		kind := e.Entry(tc.entry).Kind
		if got := prepaid.Owns(kind); got != tc.owned {
			t.Errorf("the %s's entry (kind %q): Owns = %t, want %t", tc.what, kind, got, tc.owned)
		}
	}
}
