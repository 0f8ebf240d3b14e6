package loyalty_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
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
	if _, err := e.svc.PutRules(e.ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	e.clock.set(march(17, 12))
	e.customer("R")
	e.customer("E", "R")
	e.ship("E", "S1", "80", march(17, 9))
	out := e.svc.ProcessBatch(e.ctx, e.keyID, "test", []loyalty.Event{e.event(loyalty.ShipmentRefunded, "E", "S1", "80", march(17, 10))})
	if out[0].Err != nil {
		t.Fatalf("refund: %v", out[0].Err)
	}
	e.reconcile()
}

// A refund that occurred inside the window but arrives after the referrer
// spent the (by then available) bonus is still recorded; what is gone is
// dropped.
func TestLateFullRefundAfterTheBonusWasSpent(t *testing.T) {
	e := newEnv(t)
	e.customer("R")
	e.customer("E", "R")
	e.ship("E", "S1", "80", march(1, 9)) // bonus available from the 15th, 09:00
	e.product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 400})
	if _, err := e.redeem("R", "pen", 1); err != nil {
		t.Fatal(err)
	}
	res, err := e.process(e.event(loyalty.ShipmentRefunded, "E", "S1", "80", march(10, 9)))
	if err != nil {
		t.Fatalf("late refund refused: %v", err)
	}
	if res.Referral == nil || res.Referral.Points != -100 {
		t.Errorf("referral %+v, want the 100 points left taken back", res.Referral)
	}
	if p := e.points("R"); p.Balance != 0 {
		t.Errorf("referrer balance %d, want 0", p.Balance)
	}
	e.reconcile()
}

// The same deposit id sent at once for two customers: exactly one is
// recorded, the other is an idempotency conflict (never an internal error,
// never both), and only the winner's balances move.
func TestMoneyIDRaceAcrossCustomers(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	e.customer("C2")
	customers := []string{"C1", "C2"}
	won := map[string]int{}
	for round := range 10 {
		id := fmt.Sprint("same-", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		moves := make([]loyalty.MoneyMovement, 2)
		for i, c := range customers {
			wg.Go(func() {
				moves[i], _, errs[i] = e.svc.Deposit(e.ctx, loyalty.MoneyInput{ID: id, CustomerID: c,
					Amount: d("1000"), OccurredAt: e.clock.now().Add(-time.Minute)}, "test")
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch fault.CodeOf(err) {
			case "":
				if winner >= 0 {
					t.Fatalf("round %d: both deposits recorded under one id", round)
				}
				winner = i
			case fault.IdempotencyConflict:
			default:
				t.Fatalf("round %d, %s: %v, want success or idempotency_conflict", round, customers[i], err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: both refused: %v", round, errs)
		}
		if m := moves[winner]; m.CustomerID != customers[winner] || m.ID != id {
			t.Errorf("round %d: the winner's answer %+v", round, m)
		}
		won[customers[winner]]++
		var owner string
		e.scan(t, `SELECT customer_id FROM money_movements WHERE kind = 'deposit' AND id = '`+id+`'`, &owner)
		if owner != customers[winner] {
			t.Errorf("round %d: deposit recorded for %s, %s won", round, owner, customers[winner])
		}
	}
	// Each deposit of 1,000 is 1,000 principal and a 2% rebate of 20.
	for _, c := range customers {
		b := e.balances(t, c)
		n := decimal.NewFromInt(int64(won[c]))
		if !b.Prepaid.Principal.Equal(d("1000").Mul(n)) || !b.Prepaid.Rebate.Equal(d("20").Mul(n)) {
			t.Errorf("%s won %d rounds, holds %s principal and %s rebate", c, won[c], b.Prepaid.Principal, b.Prepaid.Rebate)
		}
	}
	e.reconcile()
}
