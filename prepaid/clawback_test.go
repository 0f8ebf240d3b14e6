package prepaid_test

import (
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/pricemodel"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// TestSplitWithdrawalsNeverKeepMoreRebateThanOne: customers with the same
// deposit (10,000.00, rebate 400.00) withdraw the same total, one of them at
// once and the others in pieces, through the service. No split leaves more
// rebate than the single withdrawal, and none leaves less than a fen per
// further piece below it; every clawback is what the independent model of
// the rules prices from the balances before it; and the books hold the
// principal and rebate the clawbacks leave.
func TestSplitWithdrawalsNeverKeepMoreRebateThanOne(t *testing.T) {
	e := newEnv(t)
	fen := d("0.01")
	var pieces []string
	for range 24 {
		pieces = append(pieces, "0.01")
	}
	expense := decimal.Zero // what platform:rebate:expense should hold: minus every rebate left
	n := 0
	for _, tc := range []struct {
		name   string
		total  string
		splits [][]string
	}{
		// One withdrawal of 0.24 claws back 400 × 0.24 ÷ 10,000 = 0.0096,
		// leaving floor(399.9904) = 399.99; half a withdrawal's share
		// (0.0048) must not round away twice.
		{"SmallPieces", "0.24", [][]string{{"0.12", "0.12"}, pieces}},
		{"LargePieces", "2500", [][]string{{"1000", "1000", "500"}, {"0.01", "2499.99"}, {"833.33", "833.33", "833.34"}}},
		{"EverythingInPieces", "10000", [][]string{{"0.01", "9999.99"}, {"3333.33", "3333.33", "3333.34"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// withdraw deposits 10,000.00 for a new customer and withdraws
			// the pieces, checking each against the model; it answers the
			// rebate the books hold afterwards.
			withdraw := func(pieces []string) decimal.Decimal {
				t.Helper()
				n++
				c := fmt.Sprintf("C%d", n)
				e.Customer(c)
				e.MustMoney(prepaid.Deposit, c, "10000")
				principal, rebate := d("10000"), d("400")
				for i, p := range pieces {
					m := e.MustMoney(prepaid.Withdrawal, c, p)
					want := pricemodel.Clawback(rebate, principal, d(p))
					principal, rebate = principal.Sub(d(p)), rebate.Sub(want)
					servicetest.WantMoney(t, fmt.Sprintf("%s's withdrawal %d of %s: clawback", c, i+1, p), m.Clawback, want.String())
					if !m.Principal.Equal(principal) || !m.RebateBalance.Equal(rebate) {
						t.Errorf("%s after withdrawal %d: principal %s rebate %s, want %s and %s", c, i+1, m.Principal, m.RebateBalance, principal, rebate)
					}
				}
				b := e.Balances(t, c)
				if !b.Prepaid.Principal.Equal(principal) || !b.Prepaid.Rebate.Equal(rebate) {
					t.Errorf("%s's books: principal %s rebate %s, want %s and %s", c, b.Prepaid.Principal, b.Prepaid.Rebate, principal, rebate)
				}
				expense = expense.Sub(b.Prepaid.Rebate.Decimal)
				return b.Prepaid.Rebate.Decimal
			}
			single := withdraw([]string{tc.total})
			for _, split := range tc.splits {
				sum := decimal.Zero
				for _, p := range split {
					sum = sum.Add(d(p))
				}
				if !sum.Equal(d(tc.total)) {
					t.Fatalf("the split %v adds up to %s, not %s", split, sum, tc.total)
				}
				left := withdraw(split)
				if left.GreaterThan(single) {
					t.Errorf("%d withdrawals of %s in all leave rebate %s, more than one withdrawal leaves (%s)", len(split), tc.total, left, single)
				}
				if floor := single.Sub(fen.Mul(decimal.NewFromInt(int64(len(split) - 1)))); left.LessThan(floor) {
					t.Errorf("%d withdrawals of %s in all leave rebate %s, more than a fen per further withdrawal below one withdrawal's %s",
						len(split), tc.total, left, single)
				}
			}
		})
	}
	e.WantBalanceOf(t, "platform:rebate:expense", expense.String())
	e.Reconcile()
}

// TestSplitWithdrawalsReverseToTheDeposit: the rounding of split
// withdrawals leaves nothing behind for a reversal to trip on. A customer
// deposits 10,000.00 (rebate 400.00) and withdraws 0.12 twice (0.01 clawed
// back each time); while the withdrawals stand, the deposit cannot be
// reversed (its money is spent); reversing them, last first, puts back
// exactly what each clawed back, and then the deposit reverses whole and
// every reconciliation check, the rebate check among them, passes.
func TestSplitWithdrawalsReverseToTheDeposit(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	dep := e.MustMoney(prepaid.Deposit, "C1", "10000")
	first := e.MustMoney(prepaid.Withdrawal, "C1", "0.12")
	second := e.MustMoney(prepaid.Withdrawal, "C1", "0.12")
	servicetest.WantMoney(t, "first clawback", first.Clawback, "0.01")
	servicetest.WantMoney(t, "second clawback", second.Clawback, "0.01")

	_, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", dep.ID, "bounced", "test")
	servicetest.WantCode(t, err, fault.InsufficientFunds)
	for _, w := range []prepaid.MoneyMovement{second, first} {
		rev, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Withdrawal, "", w.ID, "paid back by mistake", "test")
		if err != nil {
			t.Fatalf("reverse withdrawal %s: %v", w.ID, err)
		}
		if want := w.Principal.Add(w.Amount.Decimal); !rev.Principal.Equal(want) {
			t.Errorf("reversing %s: principal %s, want %s", w.ID, rev.Principal, want)
		}
		if want := w.RebateBalance.Add(w.Clawback.Decimal); !rev.RebateBalance.Equal(want) {
			t.Errorf("reversing %s: rebate %s, want %s", w.ID, rev.RebateBalance, want)
		}
	}
	rev, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", dep.ID, "bounced", "test")
	if err != nil {
		t.Fatalf("reverse the deposit: %v", err)
	}
	if !rev.Principal.IsZero() || !rev.RebateBalance.IsZero() {
		t.Errorf("after every reversal: principal %s rebate %s, want 0 and 0", rev.Principal, rev.RebateBalance)
	}
	e.WantBalanceOf(t, "platform:rebate:expense", "0")
	e.WantBalanceOf(t, "platform:cash", "0")
	e.Reconcile()
}
