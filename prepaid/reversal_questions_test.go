package prepaid_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// A reversal's questions read indexes whatever their arguments (generic
// plans): whether a deposit's money was spent reads the account's postings
// from the deposit's on, and the last movement before a manual entry
// backwards from the entry's posting; what was priced since reads the index of
// withdrawals and charges from rebate (migration 0049) by customer, kind
// and entry, and a deposit's reversal does not read the charges at all.
func TestAReversalsQuestionsReadIndexes(t *testing.T) {
	e := newEnv(t)
	spent := testdb.GenericPlan(t, e.Pool, ledger.QSpentSince, 1, []string{})
	if !strings.Contains(spent, "postings_account_id_nonnegative") || !strings.Contains(spent, "(id > d.id)") {
		t.Errorf("whether a deposit was spent does not read its account's postings from its own on:\n%s", spent)
	}
	last := testdb.GenericPlan(t, e.Pool, ledger.QLastBefore, 1, []string{}, []string{})
	if !strings.Contains(last, "Index Scan Backward using postings_account_id_nonnegative") || !strings.Contains(last, "(id < d.id)") {
		t.Errorf("the last movement before an entry is not read backwards from its posting:\n%s", last)
	}
	priced := testdb.GenericPlan(t, e.Pool, prepaid.QPricedSince, "", 1, "")
	for _, want := range []string{"(customer_id = $1) AND (kind = 'withdrawal'::text) AND (entry_id > $2)",
		"(customer_id = $1) AND (kind = 'charge'::text) AND (entry_id > $2)", "One-Time Filter: ($3 <> 'deposit'::text)"} {
		if !strings.Contains(priced, want) {
			t.Errorf("what was priced since: no %q in\n%s", want, priced)
		}
	}

	// Forty charges from rebate after a deposit: its reversal's question
	// never reads them.
	e.Customer("C1")
	dep := e.MoneyAt(t, prepaid.Deposit, "D", "C1", "1000", march(1, 9)) // rebate 20.00
	e.MoneyAt(t, prepaid.Charge, "C0", "C1", "1000", march(1, 9))
	for i := range 40 {
		e.MoneyAt(t, prepaid.Charge, fmt.Sprintf("R%d", i), "C1", "0.01", march(1, 10))
	}
	tx, err := e.Pool.Begin(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(e.Ctx)
	if _, err := tx.Exec(e.Ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(e.Ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) `+prepaid.QPricedSince, "C1", dep.EntryID, prepaid.Deposit)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Planned for these arguments, the charges' arm is false from the start;
	// on the generic plan, its one-time filter keeps it from running.
	p := strings.Join(plan, "\n")
	if skipped := strings.Contains(p, "One-Time Filter: false") || strings.Contains(p, "(never executed)"); !skipped ||
		strings.Contains(p, "Rows Removed by Filter") {
		t.Errorf("a deposit's reversal reads the charges from rebate:\n%s", p)
	}
}

// A reversal sets its movement's reversal_entry_id; no index names the
// column (0049's predicate leaves it out), so the update stays HOT: it
// enters no index. Measured against the same update with 0049's index
// dropped, so that a page without room (which forbids HOT too) cannot
// make it fail.
func TestAReversalsUpdateStaysHOT(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	dep := e.MoneyAt(t, prepaid.Deposit, "D", "C1", "1000", march(1, 9))
	hot := func(dropIndex bool) int64 {
		tx, err := e.Pool.Begin(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(e.Ctx)
		if dropIndex {
			if _, err := tx.Exec(e.Ctx, `DROP INDEX money_movements_priced_since`); err != nil {
				t.Fatal(err)
			}
		}
		count := func() (n int64) {
			if err := tx.QueryRow(e.Ctx, `SELECT coalesce((SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables
WHERE relname = 'money_movements'), 0)`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := count()
		if _, err := tx.Exec(e.Ctx, `UPDATE money_movements SET reversal_entry_id = $1 WHERE kind = 'deposit' AND id = 'D'`,
			dep.EntryID); err != nil {
			t.Fatal(err)
		}
		return count() - before
	}
	without, with := hot(true), hot(false)
	if without != 1 || with != without {
		t.Errorf("HOT updates of a reversal's update: %d with money_movements_priced_since, %d without it; want 1 both", with, without)
	}
}
