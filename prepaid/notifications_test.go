package prepaid_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/notifytest"
	"github.com/tally-ledger/tally/prepaid"
)

// moneyNotices are the notifications after cur as "type customer
// k=v ..." over the payload's scalar fields, then what the named entry moved
// on the customer's prepaid and rebate accounts by the books, and the feed's
// end.
func (e *env) moneyNotices(t *testing.T, cur notify.Cursor) ([]string, notify.Cursor) {
	t.Helper()
	list, next := notifytest.Read(t, e.Ledger, cur)
	var out []string
	for _, n := range list {
		p := notifytest.Payload(t, n)
		line := n.Type + " " + n.Customer
		for _, f := range []string{"deposit_id", "withdrawal_id", "amount", "rate", "rebate", "clawback"} {
			if v, ok := p[f]; ok {
				line += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		line += " books:"
		for _, posting := range e.Entry(int64(p["entry_id"].(float64))).Postings {
			if strings.HasPrefix(posting.Account, "customer:") {
				line += " " + strings.TrimPrefix(posting.Account, "customer:"+n.Customer+":") + " " + posting.Amount.String()
			}
		}
		out = append(out, line)
	}
	return out, next
}

// A deposit announces itself with its rebate and rate (the rules' example:
// 12,345.67 earns 4%, 493.82), a withdrawal with its clawback, their CNY
// at CNY's scale ("10000.00") and the rate as it is ("0.04"); a charge, a
// replay and a refused withdrawal announce nothing.
func TestDepositsAndWithdrawalsAnnounceTheirRebateAndClawback(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	cur := notifytest.End(t, e.Ledger)
	at := march(15, 10)
	e.MoneyAt(t, prepaid.Deposit, "d1", "C1", "12345.67", at)
	e.MoneyAt(t, prepaid.Deposit, "d1", "C1", "12345.67", at) // a retry
	e.MoneyAt(t, prepaid.Deposit, "d2", "C2", "10000", at)
	e.MoneyAt(t, prepaid.Charge, "c1", "C2", "100", at)
	e.MoneyAt(t, prepaid.Charge, "c1", "C2", "100", at) // a retry
	_, _, err := e.Prepaid.Withdraw(e.Ctx, prepaid.MoneyInput{ID: "w0", CustomerID: "C1", Amount: d("20000"), OccurredAt: at}, "test")
	servicetest.WantCode(t, err, fault.InsufficientFunds)
	e.MoneyAt(t, prepaid.Charge, "c2", "C1", "345.67", at)
	// C1 now holds 12,000 of principal and 493.82 of rebate: 2,500 claws
	// back 493.82 * 2500 / 12000 = 102.879..., rounded up to the fen.
	e.MoneyAt(t, prepaid.Withdrawal, "w1", "C1", "2500", at)
	e.MoneyAt(t, prepaid.Withdrawal, "w1", "C1", "2500", at) // a retry
	got, _ := e.moneyNotices(t, cur)
	want := []string{
		"deposit.received C1 deposit_id=d1 amount=12345.67 rate=0.04 rebate=493.82 books: prepaid 12345.67 rebate 493.82",
		"deposit.received C2 deposit_id=d2 amount=10000.00 rate=0.04 rebate=400.00 books: prepaid 10000 rebate 400",
		"withdrawal.completed C1 withdrawal_id=w1 amount=2500.00 clawback=102.88 books: prepaid -2500 rebate -102.88",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("announced\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
