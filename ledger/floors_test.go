package ledger_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// An entry dated back may take from a customer's account no more than the
// least balance it shows from that date on, by date: here 1,000.00 in ten
// days ago, 900.00 out a day ago, 1,000.00 in an hour ago. Dated five days
// ago, a debit may take 100.00 (the day-old balance), not a fen more,
// though the balance now holds 1,100.00.
func TestADebitDatedBackTakesNoMoreThanTheLeastSince(t *testing.T) {
	l, _ := newLedger(t)
	now := time.Now()
	move := func(amount string, at time.Time) ledger.EntryInput {
		return ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "test", EffectiveAt: at, Postings: []ledger.PostingInput{
			{Account: "customer:F1:prepaid", Amount: d(amount)}, {Account: "platform:cash", Amount: d(amount).Neg()}}}
	}
	mustPost(t, l, move("1000.00", now.Add(-10*24*time.Hour)))
	mustPost(t, l, move("-900.00", now.Add(-24*time.Hour)))
	mustPost(t, l, move("1000.00", now.Add(-time.Hour)))
	fiveDays := now.Add(-5 * 24 * time.Hour)
	for _, amount := range []string{"-500.00", "-100.01"} {
		_, _, err := l.Post(t.Context(), move(amount, fiveDays))
		wantCode(t, err, fault.InsufficientFunds)
	}
	wantBalance(t, l, "customer:F1:prepaid", "1100.00")
	mustPost(t, l, move("-100.00", fiveDays))
	_, _, err := l.Post(t.Context(), move("-0.01", fiveDays))
	wantCode(t, err, fault.InsufficientFunds)
	// Dated now, the rest of the balance may go.
	mustPost(t, l, move("-1000.00", time.Time{}))
	wantBalance(t, l, "customer:F1:prepaid", "0.00")
	mustReconcile(t, l)
}
