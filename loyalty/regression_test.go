package loyalty_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// A full refund inside the window when referral bonuses are switched off
// (bonus 0) must not crash: there is nothing to cancel.
func TestFullRefundWithoutABonus(t *testing.T) {
	e := newEnv(t)
	rs := rules.Default()
	rs.Referral.Bonus = 0
	rs.EffectiveFrom = march(16, 0)
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(march(17, 12))
	e.Customer("R")
	e.Customer("E", "R")
	e.Ship("E", "S1", "80", march(17, 9))
	out := e.Loyalty.ProcessBatch(e.Ctx, e.Key, "test", []loyalty.Event{e.Event(loyalty.ShipmentRefunded, "E", "S1", "80", march(17, 10))})
	if out[0].Err != nil {
		t.Fatalf("refund: %v", out[0].Err)
	}
	e.Reconcile()
}

// A refund that occurred inside the window but arrives after the referrer
// spent the (by then available) bonus is still recorded; what is gone is
// dropped.
func TestLateFullRefundAfterTheBonusWasSpent(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	e.Ship("E", "S1", "80", march(1, 9)) // bonus available from the 15th, 09:00
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 400})
	if _, err := e.Redeem("R", "pen", 1); err != nil {
		t.Fatal(err)
	}
	res, err := e.Process(e.Event(loyalty.ShipmentRefunded, "E", "S1", "80", march(10, 9)))
	if err != nil {
		t.Fatalf("late refund refused: %v", err)
	}
	if res.Referral == nil || res.Referral.Points != -100 {
		t.Errorf("referral %+v, want the 100 points left taken back", res.Referral)
	}
	if p := e.Points("R"); p.Balance != 0 {
		t.Errorf("referrer balance %d, want 0", p.Balance)
	}
	e.Reconcile()
}
