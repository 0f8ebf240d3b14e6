package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
)

// refused reverses the movement and wants the refusal code, with nothing
// written: the customer's balances stay as they were and the movement is
// still unreversed.
func (e *env) refused(t *testing.T, kind, id, want, principal, rebate string) {
	t.Helper()
	_, err := e.Prepaid.ReverseMoney(e.Ctx, kind, "", id, "test", "admin")
	if fault.CodeOf(err) != fault.Code(want) {
		t.Fatalf("reversing %s %s: %v, want %s", kind, id, err, want)
	}
	e.WantBalanceOf(t, "customer:C1:prepaid", principal)
	e.WantBalanceOf(t, "customer:C1:rebate", rebate)
	var reversed *int64
	if err := e.Pool.QueryRow(e.Ctx, `SELECT reversal_entry_id FROM money_movements WHERE kind = $1 AND id = $2`,
		kind, id).Scan(&reversed); err != nil || reversed != nil {
		t.Fatalf("%s %s after a refused reversal: reversal entry %v (%v), want none", kind, id, reversed, err)
	}
}

// reverse reverses the movement and wants the customer's balances after.
func (e *env) reverse(t *testing.T, kind, id, principal, rebate string) {
	t.Helper()
	m, err := e.Prepaid.ReverseMoney(e.Ctx, kind, "", id, "test", "admin")
	if err != nil {
		t.Fatalf("reversing %s %s: %v", kind, id, err)
	}
	if !m.Principal.Equal(d(principal)) || !m.RebateBalance.Equal(d(rebate)) {
		t.Fatalf("after reversing %s %s: principal %s, rebate %s, want %s and %s", kind, id, m.Principal, m.RebateBalance, principal, rebate)
	}
}

// A charge draws principal first: one that drew rebate did so because the
// principal was gone. Reversing an earlier charge (or withdrawal) gives the
// principal back, and left alone the later charge would keep having spent
// rebate where, priced again, it would spend principal: deposit 50,000.00
// (rebate 2,500.00), charge 50,000.00, charge 2,500.00 from the rebate, the
// first charge reversed: principal 50,000.00 to withdraw in cash and no
// rebate to claw back, 2,500.00 of shipping for nothing. So the reversal is
// refused while such a charge stands (rebate_drawn_since) and writes
// nothing; reversed in the other order, the books are the deposit's.
func TestChargeReversalAfterAChargeFromRebateIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "D", "C1", "50000", march(1, 9))
	e.MoneyAt(t, prepaid.Charge, "C-early", "C1", "100", march(1, 10))
	e.reverse(t, prepaid.Charge, "C-early", "50000", "2500") // nothing later: reversible
	// Dated after C-early's reversal gave its 100.00 back (now): a charge
	// may not take money dated after it.
	now := e.Clock.Now()
	e.MoneyAt(t, prepaid.Charge, "C1", "C1", "30000", now)
	e.MoneyAt(t, prepaid.Charge, "C2", "C1", "20000", now) // from principal alone: no obstacle
	c3 := e.MoneyAt(t, prepaid.Charge, "C3", "C1", "2500", now)
	if !c3.FromRebate.Equal(d("2500")) {
		t.Fatalf("charge C3 drew %s from rebate, want 2500", c3.FromRebate)
	}

	e.refused(t, prepaid.Charge, "C1", "rebate_drawn_since", "0", "0")
	e.refused(t, prepaid.Charge, "C2", "rebate_drawn_since", "0", "0")
	e.reverse(t, prepaid.Charge, "C3", "0", "2500")
	e.reverse(t, prepaid.Charge, "C1", "30000", "2500")
	e.reverse(t, prepaid.Charge, "C2", "50000", "2500")
	e.Reconcile()
}

// The same through a withdrawal: deposits of 999.99 (0%) and 50,000.00
// (5%), 50,000.00 withdrawn (clawback 2,450.99, leaving 49.01), a charge of
// 1,049.00 spends the 999.99 and the 49.01. Reversing the withdrawal alone
// would then leave the charge's 49.01 of rebate spent where principal was
// back: the 999.99's reversal after it left 49,000.01 of principal and
// 2,450.99 of rebate, where the deposit of 50,000.00 charged 1,049.00 holds
// 48,951.00 and 2,500.00. Refused until the charge is reversed.
func TestWithdrawalReversalAfterAChargeFromRebateIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "A", "C1", "999.99", march(1, 9))
	e.MoneyAt(t, prepaid.Deposit, "B", "C1", "50000", march(1, 10))
	e.MoneyAt(t, prepaid.Withdrawal, "W", "C1", "50000", march(2, 9))
	c := e.MoneyAt(t, prepaid.Charge, "C", "C1", "1049", march(2, 10))
	if !c.FromRebate.Equal(d("49.01")) {
		t.Fatalf("charge C drew %s from rebate, want 49.01", c.FromRebate)
	}

	e.refused(t, prepaid.Withdrawal, "W", "rebate_drawn_since", "0", "0")
	e.refused(t, prepaid.Deposit, "A", "insufficient_funds", "0", "0")
	e.reverse(t, prepaid.Charge, "C", "999.99", "49.01")
	e.reverse(t, prepaid.Withdrawal, "W", "50999.99", "2500")
	e.reverse(t, prepaid.Deposit, "A", "50000", "2500")
	e.Reconcile()
}

// A withdrawal leaves its rebate rounded down, so the next one is priced on
// a rate a little under the first's: reversing the first alone would keep
// the difference. Deposit 1,234.56 (rebate 24.69); withdraw 0.01 (clawback
// 0.01, 24.68 left on 1,234.55), then 1,234.54 (clawback 24.68); the first
// withdrawal reversed would leave 0.01 of rebate on 0.02 of principal,
// where withdrawing 1,234.54 from the deposit leaves none. Refused
// (withdrawn_since) until the later withdrawal is reversed; a charge's
// reversal waits the same way, since the later withdrawal clawed back at
// the rate the charge left.
func TestWithdrawalReversalAfterAWithdrawalIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "D", "C1", "1234.56", march(1, 9))
	e.MoneyAt(t, prepaid.Charge, "C", "C1", "0.01", march(1, 9))
	e.MoneyAt(t, prepaid.Deposit, "D2", "C1", "0.01", march(1, 9))
	e.MoneyAt(t, prepaid.Withdrawal, "W1", "C1", "0.01", march(1, 10))
	w2 := e.MoneyAt(t, prepaid.Withdrawal, "W2", "C1", "1234.54", march(1, 11))
	if !w2.Principal.Equal(d("0.01")) || !w2.RebateBalance.Equal(d("0")) {
		t.Fatalf("after W2: principal %s, rebate %s, want 0.01 and 0", w2.Principal, w2.RebateBalance)
	}

	e.refused(t, prepaid.Withdrawal, "W1", "withdrawn_since", "0.01", "0")
	e.refused(t, prepaid.Charge, "C", "withdrawn_since", "0.01", "0")
	e.reverse(t, prepaid.Withdrawal, "W2", "1234.55", "24.68")
	e.reverse(t, prepaid.Withdrawal, "W1", "1234.56", "24.69")
	e.reverse(t, prepaid.Charge, "C", "1234.57", "24.69")
	e.Reconcile()
}

// A deposit whose money was spent cannot be reversed, though a later
// deposit has refilled the balance: deposits D0 of 50,000.00 (rebate
// 2,500.00) and d of 1,000.00 (rebate 20.00), a charge of 51,000.00 (all
// principal, d's included), then D3 of 1,000.00. Reversing d would take
// D3's money and leave the rebate that, without d, paid 1,000.00 of the
// charge: principal 0.00 and rebate 2,520.00 where the history without d
// holds 1,000.00 and 1,520.00. Refused (insufficient_funds, as when the
// balance is short), writing nothing, with or without a later charge from
// rebate; reversing the charges first, d goes.
func TestDepositReversalAfterItsMoneyWasSpentIsRefused(t *testing.T) {
	for _, fromRebate := range []bool{false, true} {
		t.Run(map[bool]string{false: "charges from principal", true: "a later charge from rebate"}[fromRebate], func(t *testing.T) {
			e := newEnv(t)
			e.Customer("C1")
			e.MoneyAt(t, prepaid.Deposit, "D0", "C1", "50000", march(1, 9))
			e.MoneyAt(t, prepaid.Deposit, "d", "C1", "1000", march(1, 10))
			e.MoneyAt(t, prepaid.Charge, "C1", "C1", "51000", march(1, 11))
			rebate := "2540"
			if fromRebate {
				e.MoneyAt(t, prepaid.Charge, "C2", "C1", "20", march(1, 12))
				rebate = "2520"
			}
			e.MoneyAt(t, prepaid.Deposit, "D3", "C1", "1000", march(1, 13))

			e.refused(t, prepaid.Deposit, "d", "insufficient_funds", "1000", rebate)
			if fromRebate {
				e.reverse(t, prepaid.Charge, "C2", "1000", "2540")
			}
			e.reverse(t, prepaid.Charge, "C1", "52000", "2540")
			e.reverse(t, prepaid.Deposit, "d", "51000", "2520")
			e.Reconcile()
		})
	}
}

// A deposit whose money a later charge spent, the charge reversed since,
// goes: the reversed charge priced nothing that stays. And one whose
// balance never went below it since goes, however much was charged.
func TestDepositReversalAfterReversedSpendingGoes(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "d", "C1", "1000", march(1, 9))
	e.MoneyAt(t, prepaid.Charge, "C1", "C1", "900", march(1, 10))
	e.MoneyAt(t, prepaid.Deposit, "D2", "C1", "5000", march(1, 11))
	e.MoneyAt(t, prepaid.Charge, "C2", "C1", "4000", march(1, 12)) // leaves 1,100.00: d's 1,000.00 unspent
	e.refused(t, prepaid.Deposit, "d", "insufficient_funds", "1100", "170")
	e.reverse(t, prepaid.Charge, "C1", "2000", "170")
	e.reverse(t, prepaid.Deposit, "d", "1000", "150")
	e.Reconcile()
}

// A later deposit's reversal is a debit that spends none of an earlier
// deposit's money: reversed latest first, as the refusals ask, every
// movement goes. D1 1,000.00 (rebate 20.00), a charge C, D2 1,000.00;
// D2 reversed, then C, then D1: the books are empty. With C of 500.00 D1
// was never spent; with C of 1,000.00 it was, until C's reversal.
func TestDepositsReversedLatestFirstAllGo(t *testing.T) {
	for _, charge := range []string{"500", "1000"} {
		t.Run(charge, func(t *testing.T) {
			e := newEnv(t)
			e.Customer("C1")
			e.MoneyAt(t, prepaid.Deposit, "D1", "C1", "1000", march(1, 9))
			e.MoneyAt(t, prepaid.Charge, "C", "C1", charge, march(1, 10))
			e.MoneyAt(t, prepaid.Deposit, "D2", "C1", "1000", march(1, 11))
			e.reverse(t, prepaid.Deposit, "D2", d("1000").Sub(d(charge)).String(), "20")
			e.reverse(t, prepaid.Charge, "C", "1000", "20")
			e.reverse(t, prepaid.Deposit, "D1", "0", "0")
			e.Reconcile()
		})
	}
}
