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
// spent the (by then available) bonus is still recorded; what the referrer
// spent of it they owe, and their next points settle it.
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
	if res.Referral == nil || res.Referral.Points != -100 || res.Referral.PointsOwed != 400 {
		t.Errorf("referral %+v, want the 100 points left taken back, 400 owed", res.Referral)
	}
	if p := e.Points("R"); p.Balance != 0 || p.Owed != 400 {
		t.Errorf("referrer %+v, want balance 0, 400 owed", p)
	}
	e.WantBalanceOf(t, "platform:points:earned:referral", "0") // the bonus is all given back
	e.Ship("R", "SR", "250", march(14, 9))                     // 250 points settle 250 of the 400
	if p := e.Points("R"); p.Balance != 0 || p.Owed != 150 {
		t.Errorf("referrer after earning 250: %+v, want balance 0, 150 owed", p)
	}
	if got := e.statementLines("R")[2]; got != "100 referral points cancelled: E's shipment S1 refunded in full; 400 more owed, settled from the next points you receive" {
		t.Errorf("statement line %q", got)
	}
	e.Reconcile()
}
