package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/loyalty"
)

func TestStatementDescribesEntries(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("C1", "R")
	e.Ship("C1", "S0", "5000", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
	e.Ship("C1", "S1", "123.45", march(10, 9))
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "23.45", march(11, 9)))
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	if _, err := e.Redeem("C1", "pen", 2); err != nil {
		t.Fatal(err)
	}
	entries, next, err := e.Loyalty.Statement(e.Ctx, "C1", 0, 3)
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
	rest, next, err := e.Loyalty.Statement(e.Ctx, "C1", next, 3)
	if err != nil || len(rest) != 1 || next != 0 || rest[0].Description != "5000 points for shipment S0 (floating x1)" {
		t.Errorf("last page %+v next %d err %v", rest, next, err)
	}
	if b := entries[0].Movements[0].BalanceAfter; b.IntPart() != 5000+148-28-200 {
		t.Errorf("balance after the redemption %s", b)
	}
	ref, _, err := e.Loyalty.Statement(e.Ctx, "R", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != 1 || ref[0].Description != "500 referral points for C1's shipment S0" {
		t.Errorf("referrer statement %+v", ref)
	}
}
