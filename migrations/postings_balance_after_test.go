package migrations_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// Migration 0027, applied to a database holding postings: every row is as
// it was, and from then on a posting that leaves an account that may not
// go negative below zero is refused, while what the service writes
// (platform accounts record no balance) passes.
func TestPostingBalanceAfterMigrationKeepsTheRowsAndRefusesANegativeBalance(t *testing.T) {
	ctx := context.Background()
	_, m, pool, e := schemaAt(t, 26)
	atHead(t, m, 26, func() {
		e.Customer("A")
		e.MustMoney("deposit", "A", "100.00")
		e.MustMoney("charge", "A", "40.00")
	})
	before := tableDigests(t, pool)
	if err := m.Migrate(27); err != nil {
		t.Fatalf("0027 up: %v", err)
	}
	if after := tableDigests(t, pool); after["postings"] != before["postings"] || after["balance_buckets"] != before["balance_buckets"] {
		t.Errorf("after 0027 the postings or balances changed")
	}
	insert := func(code string, balanceAfter *string) error { // a line of the last entry
		t.Helper()
		tag, err := pool.Exec(ctx, `INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at)
SELECT (SELECT max(id) FROM entries), a.id, a.asset, 1, $2::numeric, now() FROM accounts a WHERE a.code = $1`, code, balanceAfter)
		if err == nil && tag.RowsAffected() != 1 {
			t.Fatalf("no account %s", code)
		}
		return err
	}
	e.BreaksBooks("postings are inserted by hand to try the constraint")
	negative := "-0.01"
	if err := insert("customer:A:prepaid", &negative); !fault.CheckViolation(err, "posting_balance_nonnegative") {
		t.Errorf("a posting leaving customer:A:prepaid at -0.01: %v, want the constraint refusing it", err)
	}
	// What the service writes passes: balances at or above zero, and none
	// on the platform's accounts (on the service's own schema, the latest,
	// which keeps 0027's constraint; migrated back to 0027 after).
	atHead(t, m, 27, func() {
		e.MustMoney("charge", "A", "60.00")
		e.MustMoney("deposit", "A", "5.00")
	})
	if err := m.Steps(-1); err != nil {
		t.Fatalf("0027 down: %v", err)
	}
	if err := insert("customer:A:prepaid", &negative); fault.CheckViolation(err, "posting_balance_nonnegative") {
		t.Errorf("rolled back, the constraint still refuses: %v", err)
	}
}
