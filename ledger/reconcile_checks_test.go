package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// Reconcile runs the checks kept outside the ledger in the same snapshot,
// after its own, and fails when any of them fails.
func TestReconcileRunsExtraChecks(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "5"))
	entries := func(want int) ledger.ExtraCheck {
		return func(ctx context.Context, tx *ledger.Tx) (ledger.Check, error) {
			var n int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&n)
			return ledger.Check{Name: "entries_counted", Pass: n == want}, err
		}
	}

	r, err := l.Reconcile(ctx, entries(1))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Pass || r.Checks[len(r.Checks)-1].Name != "entries_counted" || !r.Checks[len(r.Checks)-1].Pass {
		t.Errorf("Reconcile = %+v, want it to pass with the extra check last", r)
	}
	builtIn := len(r.Checks) - 1
	for _, c := range r.Checks[:builtIn] {
		if !c.Pass || c.Offending == nil {
			t.Errorf("check %s = %+v, want a pass with an empty list of offenders", c.Name, c)
		}
	}

	r, err = l.Reconcile(ctx, entries(2), entries(1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Pass || len(r.Checks) != builtIn+2 || r.Checks[builtIn].Pass || !r.Checks[builtIn+1].Pass {
		t.Errorf("Reconcile = %+v, want a failure from the first extra check only", r)
	}

	broken := errors.New("cannot check")
	_, err = l.Reconcile(ctx, func(context.Context, *ledger.Tx) (ledger.Check, error) { return ledger.Check{}, broken })
	if !errors.Is(err, broken) {
		t.Errorf("Reconcile with a failing extra check = %v, want its error", err)
	}
}
