package prepaid_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// A later charge from rebate back-dated before the charge to reverse and
// recorded in another space still refuses it: "later" is the entry id, the
// order of pricing, not occurred_at or the space. (Dated after the deposit:
// a charge may not take money dated after it.)
func TestALaterChargeBackDatedInAnotherSpaceStillRefuses(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "D", "C1", "50000", march(10, 9))
	e.MoneyAt(t, prepaid.Charge, "C1", "C1", "50000", march(10, 10))
	if _, _, err := e.Prepaid.Charge(e.Ctx, prepaid.MoneyInput{ID: "C2", CustomerID: "C1", Amount: d("100"),
		OccurredAt: march(10, 9).Add(30 * time.Minute), Space: "other-partner"}, "test"); err != nil {
		t.Fatal(err)
	}
	e.refused(t, prepaid.Charge, "C1", "rebate_drawn_since", "0", "2400")
	if m, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Charge, ledger.AnySpace, "C2", "test", "admin"); err != nil ||
		!m.RebateBalance.Equal(d("2500")) {
		t.Fatalf("reversing C2 in any space: %+v %v", m, err)
	}
	e.reverse(t, prepaid.Charge, "C1", "50000", "2500")
	e.Reconcile()
}
