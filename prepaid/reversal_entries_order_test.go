package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// A manual credit draws its entry id, waits for another customer's balance
// row; a withdrawal of C1 is recorded meanwhile (a later entry id, but
// priced on C1's balances before the credit); then the credit posts. Its
// reversal by hand changes nothing the withdrawal was priced on (it came
// first in the order of the balances), so it goes, as written one after the
// other (red while movements were ordered against the entry's own id).
func TestAManualCreditPostedAfterAWithdrawalIsNotPricedOn(t *testing.T) {
	e := newEnv(t)
	e.Customer("C0")
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "X0", "C0", "1", march(1, 8))
	e.MoneyAt(t, prepaid.Deposit, "D0", "C1", "50000", march(1, 9))

	var w prepaid.MoneyMovement
	credit := e.manualBehindC0(t, func() { w = e.MoneyAt(t, prepaid.Withdrawal, "w", "C1", "1000", march(1, 10)) },
		ledger.PostingInput{Account: "customer:C0:prepaid", Amount: d("1")},
		ledger.PostingInput{Account: "customer:C1:prepaid", Amount: d("999")},
		ledger.PostingInput{Account: "platform:cash", Amount: d("-1000")})
	if credit > w.EntryID {
		t.Fatalf("the credit's entry %d was drawn after the withdrawal's %d: no race", credit, w.EntryID)
	}
	// Written one after the other (withdrawal, then the credit), the
	// credit's reversal goes: nothing after it was priced on it.
	_, _, err := e.Prepaid.ReverseEntry(e.Ctx, credit, ledger.ReversalInput{Actor: "admin", Reason: "mistake"}, nil)
	if err != nil {
		t.Errorf("reversing the manual credit posted after withdrawal w: %v, want reversed (w was priced before it)", err)
	}
}

// The same history written one after the other: the credit's reversal
// goes; a withdrawal after the credit refuses it.
func TestAManualCreditAfterAWithdrawalIsReversed(t *testing.T) {
	e := newEnv(t)
	e.Customer("C0")
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "X0", "C0", "1", march(1, 8))
	e.MoneyAt(t, prepaid.Deposit, "D0", "C1", "50000", march(1, 9))
	e.MoneyAt(t, prepaid.Withdrawal, "w", "C1", "1000", march(1, 10))
	en, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "goodwill",
		Postings: []ledger.PostingInput{
			{Account: "customer:C0:prepaid", Amount: d("1")},
			{Account: "customer:C1:prepaid", Amount: d("999")},
			{Account: "platform:cash", Amount: d("-1000")}}})
	if err != nil {
		t.Fatal(err)
	}
	e.MoneyAt(t, prepaid.Withdrawal, "w2", "C1", "10", march(1, 11))
	e.reverseEntry(t, en.ID, "withdrawn_since")
	e.reverse(t, prepaid.Withdrawal, "w2", "49999", "2450")
	e.reverseEntry(t, en.ID, "")
}
