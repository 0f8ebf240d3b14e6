package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// manual posts a manual entry moving amount from platform:cash to the
// account (negative: from the account to platform:cash) and answers its id.
func (e *env) manual(t *testing.T, account, amount string) int64 {
	t.Helper()
	en, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "by hand",
		Postings: []ledger.PostingInput{{Account: account, Amount: d(amount)}, {Account: "platform:cash", Amount: d(amount).Neg()}}})
	if err != nil {
		t.Fatal(err)
	}
	return en.ID
}

// reverseEntry reverses entry id by hand and wants the refusal code ("" for
// none).
func (e *env) reverseEntry(t *testing.T, id int64, want string) {
	t.Helper()
	_, _, err := e.Prepaid.ReverseEntry(e.Ctx, id, ledger.ReversalInput{Actor: "admin", Reason: "mistake"}, nil)
	if fault.CodeOf(err) != fault.Code(want) {
		t.Fatalf("reversing entry %d by hand: %v, want %q", id, err, want)
	}
}

// A manual debit of a customer's principal is a charge to what came after
// it: reversed by hand past a charge that drew on rebate because the debit
// had taken the principal, it would turn the rebate into cash. Deposit
// 50,000.00 (rebate 2,500.00), a manual debit of 50,000.00 by mistake, a
// charge of 2,500.00 (all rebate): the debit's reversal is refused
// (rebate_drawn_since) and writes nothing; once the charge is reversed it
// goes, and the books are the deposit's. Its twin through a deposit: the
// deposit's reversal was let through once the debit was reversed (the
// debit no longer counted, the charge posted nothing on the principal).
func TestAManualDebitsReversalWaitsForACharge(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "D", "C1", "50000", march(1, 9))
	m := e.manual(t, "customer:C1:prepaid", "-50000")
	if c := e.MoneyAt(t, prepaid.Charge, "C", "C1", "2500", march(1, 10)); !c.FromRebate.Equal(d("2500")) {
		t.Fatalf("the charge drew %s from rebate, want 2500", c.FromRebate)
	}
	e.reverseEntry(t, m, "rebate_drawn_since")
	e.WantBalanceOf(t, "customer:C1:prepaid", "0")
	e.WantBalanceOf(t, "customer:C1:rebate", "0")
	e.reverse(t, prepaid.Charge, "C", "0", "2500")
	e.reverseEntry(t, m, "")
	e.WantBalanceOf(t, "customer:C1:prepaid", "50000")
	e.WantBalanceOf(t, "customer:C1:rebate", "2500")
	e.reverseEntry(t, m, "already_reversed")
	e.Reconcile()
}

// A manual credit is a deposit to what came after it: its reversal by hand
// waits while what it put on the account has been spent since, or a later
// withdrawal was priced on it. Goodwill of 1,000.00 beside a deposit of
// 1,000.00, a charge of 1,500.00, a deposit of 1,000.00: refused
// (insufficient_funds), though the balance holds 1,500.00; with the charge
// reversed, a withdrawal of 100.00 refuses it (withdrawn_since); with that
// reversed too, it goes. An entry that moves no customer's money is
// reversed as before.
func TestAManualCreditsReversalWaitsLikeADeposits(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "D1", "C1", "1000", march(1, 9))
	m := e.manual(t, "customer:C1:prepaid", "1000")
	// Dated after the goodwill (posted now): a charge may not take money
	// dated after it.
	e.MoneyAt(t, prepaid.Charge, "C", "C1", "1500", e.Clock.Now())
	e.MoneyAt(t, prepaid.Deposit, "D2", "C1", "1000", march(1, 11))
	e.reverseEntry(t, m, "insufficient_funds")
	e.WantBalanceOf(t, "customer:C1:prepaid", "1500")
	e.reverse(t, prepaid.Charge, "C", "3000", "40")
	e.MoneyAt(t, prepaid.Withdrawal, "W", "C1", "100", march(1, 12))
	e.reverseEntry(t, m, "withdrawn_since")
	e.reverse(t, prepaid.Withdrawal, "W", "3000", "40")
	e.reverseEntry(t, m, "")
	e.WantBalanceOf(t, "customer:C1:prepaid", "2000")

	other, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "by hand",
		Postings: []ledger.PostingInput{{Account: "platform:cash", Amount: d("5")}, {Account: "platform:rebate:expense", Amount: d("-5")}}})
	if err != nil {
		t.Fatal(err)
	}
	e.reverseEntry(t, other.ID, "")
	e.Reconcile()
}
