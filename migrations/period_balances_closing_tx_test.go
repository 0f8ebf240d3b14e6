package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/servicetest"
)

// Migration 0046, on a database with March closed and its balances kept:
// every row stays as it was, March's close with no closing transaction; a
// closed month's kept balances still refuse a delete from any transaction
// but the one that inserted its close, which may replace them before it
// commits; a close's row changes its digest only, in that transaction only
// (so no other transaction becomes it by updating the row); rolled back,
// even the close's own transaction may delete nothing.
func TestPeriodBalancesClosingTransactionMigration(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 45)
	atHead(t, m, 45, func() { writeBusiness(t, e, "before") })
	e.Clock.Set(servicetest.March(31, 9).AddDate(0, 0, 10))
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, servicetest.Shanghai)
	april := march.AddDate(0, 1, 0)
	atHead(t, m, 45, func() {
		if _, err := e.Ledger.ClosePeriod(ctx, "2026-03", march, april, "finance"); err != nil {
			t.Fatal(err)
		}
	})
	before := tableDigests(t, pool)
	if before["period_balances"] == "0 rows " {
		t.Fatal("March kept no balance")
	}
	if err := m.Migrate(46); err != nil {
		t.Fatalf("0046: %v", err)
	}
	var zero int
	e.Scan(t, `SELECT count(*) FROM period_closes WHERE closing_xid = '0'`, &zero)
	if zero != 1 {
		t.Errorf("after 0046, %d closes with closing_xid 0, want March's", zero)
	}
	after := tableDigests(t, pool)
	delete(before, "period_closes")
	delete(after, "period_closes")
	wantSameRows(t, "after 0046", before, after)

	// deletes tries, in one transaction, to close April (a row of its own)
	// and keep a balance for it, then to delete a balance of the month named.
	deletes := func(ownMonth bool) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `INSERT INTO period_closes (month, starts_at, ends_at, closed_at, closed_by, digest)
VALUES ('2026-04', $1, $2, now(), 'test', '\x00')`, april, april.AddDate(0, 1, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO period_balances (account_id, ends_at, balance) SELECT min(id), $1, 0 FROM accounts`,
			april.AddDate(0, 1, 0)); err != nil {
			t.Fatal(err)
		}
		month := april
		if ownMonth {
			month = april.AddDate(0, 1, 0)
		}
		_, err = tx.Exec(ctx, `DELETE FROM period_balances WHERE ends_at = $1`, month)
		return err
	}
	if err := deletes(false); err == nil {
		t.Error("at 0046, a close's transaction deleted March's kept balances")
	}
	if err := deletes(true); err != nil {
		t.Errorf("at 0046, a close's transaction may not replace its own kept balances: %v", err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM period_balances`); err == nil {
		t.Error("at 0046, March's kept balances were deleted")
	}
	for _, q := range []string{
		`UPDATE period_closes SET closed_by = closed_by`,
		`UPDATE period_closes SET digest = '\x01'`,
		`UPDATE period_closes SET closing_xid = pg_current_xact_id()`,
	} {
		if _, err := pool.Exec(ctx, q); err == nil {
			t.Errorf("at 0046, %s: allowed outside the close's transaction", q)
		}
	}
	proveBooks(t, m, e, url)

	rowsAt46 := tableDigests(t, pool)
	if err := m.Migrate(45); err != nil {
		t.Fatalf("0046 down: %v", err)
	}
	down := tableDigests(t, pool)
	delete(rowsAt46, "period_closes")
	delete(down, "period_closes")
	wantSameRows(t, "after 0046 down", rowsAt46, down)
	if err := deletes(true); err == nil {
		t.Error("at 0045, a close's transaction replaced its own kept balances")
	}
}
