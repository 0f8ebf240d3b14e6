package ledger_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// A preview answers what the work would do now and leaves nothing of it;
// when the work fails, its own error comes back, and nothing remains
// either.
func TestPreviewAnswersThePostAndLeavesNothing(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "100"))
	entries := countRows(t, pool, "entries")

	var previewed *ledger.Entry
	err := l.Preview(ctx, func(tx *ledger.Tx) error {
		var err error
		previewed, err = tx.Post(ctx, earn("C1", "50"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var after string
	for _, p := range previewed.Postings {
		if p.Account == "customer:C1:points" {
			after = p.BalanceAfter.String()
		}
	}
	if after != "150" {
		t.Errorf("previewed balance after = %q, want 100 + 50 = 150", after)
	}
	wantBalance(t, l, "customer:C1:points", "100")
	if n := countRows(t, pool, "entries"); n != entries {
		t.Errorf("%d entries after the preview, want the %d before it", n, entries)
	}

	err = l.Preview(ctx, func(tx *ledger.Tx) error {
		if _, err := tx.Post(ctx, earn("C1", "7")); err != nil {
			return err
		}
		_, err := tx.Post(ctx, redeem("C1", "1000"))
		return err
	})
	wantCode(t, err, fault.InsufficientFunds)
	wantBalance(t, l, "customer:C1:points", "100")
	if n := countRows(t, pool, "entries"); n != entries {
		t.Errorf("%d entries after a failed preview, want the %d before it", n, entries)
	}
}
