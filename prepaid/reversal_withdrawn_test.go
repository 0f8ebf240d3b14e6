package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
)

// A withdrawal claws back rebate at the rate of everything deposited
// before it, so a deposit it was priced with cannot be taken back alone:
// deposit A of 999.99 (0%) and B of 50,000.00 (5%, 2,500.00), 50,000.00
// withdrawn (clawback 2,450.99: 49.01 of rebate left on the 999.99); A
// reversed alone would leave no principal and 49.01 of rebate to spend.
// The reversal is refused (withdrawn_since) and writes nothing; once the
// withdrawal is reversed, A's reversal leaves B as it was deposited. A
// withdrawal recorded before the deposit does not stand in its way.
func TestDepositReversalAfterAWithdrawalIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "early", "C1", "100", march(1, 8))
	e.MoneyAt(t, prepaid.Withdrawal, "W0", "C1", "100", march(1, 8))
	e.MoneyAt(t, prepaid.Deposit, "A", "C1", "999.99", march(1, 9))
	e.MoneyAt(t, prepaid.Deposit, "B", "C1", "50000", march(1, 10))
	w := e.MoneyAt(t, prepaid.Withdrawal, "W", "C1", "50000", march(2, 9))
	if !w.RebateBalance.Equal(d("49.01")) || !w.Principal.Equal(d("999.99")) {
		t.Fatalf("after the withdrawal: principal %s, rebate %s, want 999.99 and 49.01", w.Principal, w.RebateBalance)
	}

	_, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "A", "bounced", "admin")
	if fault.CodeOf(err) != fault.WithdrawnSince {
		t.Fatalf("reversing deposit A after withdrawal W: %v, want %s", err, fault.WithdrawnSince)
	}
	e.WantBalanceOf(t, "customer:C1:prepaid", "999.99")
	e.WantBalanceOf(t, "customer:C1:rebate", "49.01")

	if _, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Withdrawal, "", "W", "sent in error", "admin"); err != nil {
		t.Fatal(err)
	}
	rev, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "A", "bounced", "admin")
	if err != nil {
		t.Fatalf("reversing A once W is reversed: %v", err)
	}
	if !rev.Principal.Equal(d("50000")) || !rev.RebateBalance.Equal(d("2500")) {
		t.Errorf("after reversing W then A: principal %s, rebate %s, want B's 50000.00 and 2500.00", rev.Principal, rev.RebateBalance)
	}
	e.Reconcile()
}
