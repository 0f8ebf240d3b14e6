package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// postByHand posts an entry of the postings by hand (an admin's
// adjustment) and answers its id.
func (e *env) postByHand(t *testing.T, ps ...ledger.PostingInput) int64 {
	t.Helper()
	en, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "admin", Reason: "by hand", Postings: ps})
	if err != nil {
		t.Fatal(err)
	}
	return en.ID
}

// Principal turned into rebate by hand, a charge drawing rebate since the
// principal is gone: the conversion's reversal would give principal back
// the charge would have spent.
func TestPrincipalMovedToRebateByHandWaitsForAChargeFromRebate(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "D", "C1", "50000", march(1, 9))
	m := e.postByHand(t, ledger.PostingInput{Account: "customer:C1:prepaid", Amount: d("-1000")},
		ledger.PostingInput{Account: "customer:C1:rebate", Amount: d("1000")})
	e.MoneyAt(t, prepaid.Charge, "C", "C1", "49500", march(1, 10))
	e.reverseEntry(t, m, "rebate_drawn_since")
	e.reverse(t, prepaid.Charge, "C", "49000", "3500")
	e.reverseEntry(t, m, "")
	e.WantBalanceOf(t, "customer:C1:prepaid", "50000")
	e.WantBalanceOf(t, "customer:C1:rebate", "2500")
	e.Reconcile()
}

// Rebate taken by hand, then a withdrawal priced on the rebate left (no
// clawback): the debit's reversal would hand back rebate the withdrawal
// would have clawed back.
func TestARebateDebitByHandWaitsForAWithdrawal(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "D", "C1", "50000", march(1, 9))
	m := e.manual(t, "customer:C1:rebate", "-2500")
	e.MoneyAt(t, prepaid.Withdrawal, "W", "C1", "50000", march(1, 10))
	e.reverseEntry(t, m, "withdrawn_since")
	e.WantBalanceOf(t, "customer:C1:rebate", "0")
	e.Reconcile()
}

// Principal moved by hand from C1 to C2, C2 withdraws it: the move's
// reversal would take back from C2 what C2's withdrawal was priced on; and
// C1's charge from rebate after the move stands in the way too.
func TestAMoveBetweenCustomersByHandWaitsForBoth(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.MoneyAt(t, prepaid.Deposit, "D1", "C1", "50000", march(1, 9))
	e.MoneyAt(t, prepaid.Deposit, "D2", "C2", "1000", march(1, 9))
	m := e.postByHand(t, ledger.PostingInput{Account: "customer:C1:prepaid", Amount: d("-50000")},
		ledger.PostingInput{Account: "customer:C2:prepaid", Amount: d("50000")})
	e.MoneyAt(t, prepaid.Withdrawal, "W", "C2", "500", march(1, 10))
	e.reverseEntry(t, m, "withdrawn_since")
	e.reverse(t, prepaid.Withdrawal, "W", "51000", "20")
	e.MoneyAt(t, prepaid.Charge, "C", "C1", "100", march(1, 11))
	e.reverseEntry(t, m, "rebate_drawn_since")
	e.reverse(t, prepaid.Charge, "C", "0", "2500")
	e.reverseEntry(t, m, "")
	e.WantBalanceOf(t, "customer:C1:prepaid", "50000")
	e.WantBalanceOf(t, "customer:C2:prepaid", "1000")
	e.Reconcile()
}
