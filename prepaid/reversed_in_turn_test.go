package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// TestTwoDepositsReversedInTurnUnderAChargeOfTheirMoneyAreRefused
// (helper-148's finding): deposits b and e of 500.00, a charge c of 100.00
// paid from their principal (without them it found none and was paid from
// rebate), then a deposit f. Each reversal alone passed the question
// whether the deposit's money was spent (c left 900.00, more than either
// put there), and the second did not count the first, a reversal: both
// were reversed, leaving c standing with a split the rules would not have
// priced (principal 899.99 and rebate 2,500.00, where pricing the
// movements left standing gives 999.99 and 2,400.00: 100.00 of the
// customer's withdrawable principal became rebate). Counted without b,
// reversed, c left 400.00, less than e put there: e's reversal is refused.
func TestTwoDepositsReversedInTurnUnderAChargeOfTheirMoneyAreRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	at := e.Clock.Now()
	e.MoneyAt(t, prepaid.Deposit, "a", "C1", "50000.00", at) // rebate 2,500.00
	e.MoneyAt(t, prepaid.Charge, "x", "C1", "50000.00", at)  // principal 0.00, rebate 2,500.00
	e.MoneyAt(t, prepaid.Deposit, "b", "C1", "500.00", at)   // 0%
	e.MoneyAt(t, prepaid.Deposit, "e", "C1", "500.00", at)   // 0%: principal 1,000.00
	c := e.MoneyAt(t, prepaid.Charge, "c", "C1", "100.00", at)
	servicetest.WantMoney(t, "the charge from principal", c.FromPrincipal, "100.00")
	e.MoneyAt(t, prepaid.Deposit, "f", "C1", "999.99", at) // 0%: principal 1,899.99
	if _, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "b", "sent by mistake", "admin"); err != nil {
		t.Fatalf("deposit b's reversal: %v", err)
	}
	m, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "e", "sent by mistake", "admin")
	if err != nil {
		servicetest.WantCode(t, err, "insufficient_funds") // what the rules ask
		e.Reconcile()
		return
	}
	// Standing: a (50,000.00, 2,500.00), x (50,000.00 from principal),
	// c (100.00: no principal then, so from rebate), f (999.99).
	if !m.Principal.Equal(d("999.99")) || !m.RebateBalance.Equal(d("2400.00")) {
		t.Errorf("after both reversals: principal %s, rebate %s; pricing the movements left standing gives 999.99 and 2400.00",
			m.Principal.StringFixed(2), m.RebateBalance.StringFixed(2))
	}
	e.Reconcile()
}

// TestACreditReversedBeforeADebitIsNotTakenOffItTwice: a deposit z
// reversed before a charge is already out of the balance the charge left
// (its reversal came before it): the question whether deposit d's money
// was spent takes off z's credit and its reversal's debit together, and
// d, which the charge left more than enough of, is reversed.
func TestACreditReversedBeforeADebitIsNotTakenOffItTwice(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	at := e.Clock.Now()
	e.MoneyAt(t, prepaid.Deposit, "d", "C1", "300.00", at)
	e.MoneyAt(t, prepaid.Deposit, "z", "C1", "500.00", at)
	if _, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "z", "sent by mistake", "admin"); err != nil {
		t.Fatalf("deposit z's reversal: %v", err)
	}
	e.MoneyAt(t, prepaid.Deposit, "f", "C1", "1000.00", at)
	e.MoneyAt(t, prepaid.Charge, "p", "C1", "600.00", at) // leaves 700.00, of which d's 300.00
	m, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "d", "sent by mistake", "admin")
	if err != nil {
		t.Fatalf("deposit d's reversal: %v", err)
	}
	if !m.Principal.Equal(d("400.00")) {
		t.Errorf("principal after d's reversal: %s, want 400.00", m.Principal.StringFixed(2))
	}
	e.Reconcile()
}
