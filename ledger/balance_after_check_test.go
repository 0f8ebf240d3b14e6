package ledger_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// A statement of an account that may not go negative reads the postings
// that record a balance (the index holding them holds no other): a posting
// of such an account without one, or a platform posting with one, is named
// by reconciliation.
func TestReconcileNamesAPostingWhoseBalanceAfterDisagreesWithItsAccount(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "postings are edited on purpose")
	ctx := context.Background()
	e := mustPost(t, l, earn("C1", "5"))
	mustReconcile(t, l)
	var customer, platform string
	if err := pool.QueryRow(ctx, `SELECT
    (SELECT p.id::text FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.entry_id = $1 AND NOT a.allow_negative),
    (SELECT p.id::text FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.entry_id = $1 AND a.allow_negative)`, e.ID).
		Scan(&customer, &platform); err != nil {
		t.Fatal(err)
	}
	asAttacker(t, pool, `UPDATE postings SET balance_after = NULL WHERE id = $1`, customer)
	asAttacker(t, pool, `UPDATE postings SET balance_after = 7 WHERE id = $1`, platform)
	r, err := l.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(r.Checks, func(c ledger.Check) bool { return c.Name == "balance_after_where_kept" })
	if i < 0 {
		t.Fatal("no balance_after_where_kept check")
	}
	c := r.Checks[i]
	slices.Sort(c.Offending)
	want := []string{"posting:" + customer, "posting:" + platform}
	slices.Sort(want)
	if c.Pass || r.Pass || !slices.Equal(c.Offending, want) {
		t.Errorf("balance_after_where_kept = %+v (reconciliation passes: %v), want %v named", c, r.Pass, want)
	}
}
