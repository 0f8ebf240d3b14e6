package ledger_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
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

// Reconciliation reads every account that may not go negative by date: a
// debit dated before the credit that paid it (written by a flow's own
// transaction, which the ledger does not check by date) fails
// never_below_zero_by_date, naming the account and the first instant it
// stood below zero, though its balance now is 0.
func TestReconcileFindsABalanceBelowZeroByDate(t *testing.T) {
	l, _ := newLedger(t)
	testdb.SkipBooks(t, "a debit is dated before the credit that paid it on purpose")
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	move := func(amount string, at time.Time) ledger.EntryInput {
		return ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "test", EffectiveAt: at, Postings: []ledger.PostingInput{
			{Account: "customer:F2:prepaid", Amount: d(amount)}, {Account: "platform:cash", Amount: d(amount).Neg()}}}
	}
	mustPost(t, l, move("100.00", now.Add(-time.Hour)))
	mustReconcile(t, l)
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		_, err := tx.Post(ctx, move("-100.00", now.Add(-2*time.Hour)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	wantBalance(t, l, "customer:F2:prepaid", "0.00")
	r, err := l.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "customer:F2:prepaid " + now.Add(-2*time.Hour).Format("2006-01-02T15:04:05.000000Z")
	for _, c := range r.Checks {
		if c.Name == "never_below_zero_by_date" && (c.Pass || len(c.Offending) != 1 || c.Offending[0] != want) {
			t.Errorf("never_below_zero_by_date = %+v, want it to fail naming %q", c, want)
		}
		if c.Name != "never_below_zero_by_date" && !c.Pass {
			t.Errorf("check %s failed: %+v", c.Name, c)
		}
	}
	if r.Pass {
		t.Error("reconciliation passed")
	}
}
