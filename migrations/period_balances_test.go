package migrations_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// Migration 0045, applied to a database the services wrote to, with March
// 2026 closed by an earlier release (no balance kept): every row is as it
// was and period_balances is empty, so balances as of any instant are the
// postings' sums, as before. The next close (April) keeps the balance of
// every account with one, since March kept none; the books prove, balances
// as of instants after April starting from them. Rolled back, the rows but
// the kept balances are as they were.
func TestPeriodBalancesMigrationKeepsTheBooks(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 44)
	atHead(t, m, 44, func() { writeBusiness(t, e, "before") })
	// March closed at 44, as the release before 0045 closed it.
	e.Clock.Set(servicetest.March(31, 9).AddDate(0, 0, 10))
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, servicetest.Shanghai)
	digest, err := e.Ledger.PeriodDigest(ctx, "2026-03", march, march.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `WITH c AS (INSERT INTO period_closes (month, starts_at, ends_at, closed_at, closed_by, digest)
    VALUES ('2026-03', $1, $2, $3, 'finance', decode($4, 'hex')) RETURNING month, closed_at, digest)
INSERT INTO period_history (month, action, actor, at, digest) SELECT month, 'close', 'finance', closed_at, digest FROM c`,
		march, march.AddDate(0, 1, 0), e.Clock.Now(), digest); err != nil {
		t.Fatal(err)
	}
	rowsAt44 := tableDigests(t, pool)

	if err := m.Migrate(45); err != nil {
		t.Fatalf("0045: %v", err)
	}
	after := tableDigests(t, pool)
	if after["period_balances"] != "0 rows " {
		t.Errorf("period_balances after 0045: %q, want no rows", after["period_balances"])
	}
	delete(after, "period_balances")
	wantSameRows(t, "after 0045", rowsAt44, after)
	balancesAsOf := func(at time.Time) map[string]decimal.Decimal {
		out := map[string]decimal.Decimal{}
		rows, err := pool.Query(ctx, `SELECT code FROM accounts`)
		if err != nil {
			t.Fatal(err)
		}
		var code string
		for rows.Next() {
			rows.Scan(&code)
			out[code] = decimal.Zero
		}
		for code := range out {
			b, err := e.Ledger.BalanceAsOf(ctx, code, at)
			if err != nil {
				t.Fatal(err)
			}
			out[code] = b
		}
		return out
	}
	sumsAsOf := func(at time.Time) map[string]decimal.Decimal {
		out := map[string]decimal.Decimal{}
		rows, err := pool.Query(ctx, `SELECT a.code, coalesce(sum(p.amount), 0) FROM accounts a
LEFT JOIN postings p ON p.account_id = a.id AND p.effective_at <= $1 GROUP BY a.code`, at)
		if err != nil {
			t.Fatal(err)
		}
		var code string
		var sum decimal.Decimal
		for rows.Next() {
			if err := rows.Scan(&code, &sum); err != nil {
				t.Fatal(err)
			}
			out[code] = sum
		}
		return out
	}
	same := func(a, b map[string]decimal.Decimal) bool {
		return maps.EqualFunc(a, b, func(x, y decimal.Decimal) bool { return x.Equal(y) })
	}
	if at := e.Clock.Now(); !same(balancesAsOf(at), sumsAsOf(at)) {
		t.Errorf("after 0045, balances as of %s: %v, the postings say %v", at, balancesAsOf(at), sumsAsOf(at))
	}

	// April: business (written at the latest schema, as the services need
	// it), then its close at 0045, which keeps every balance.
	atHead(t, m, 45, func() {
		for _, c := range []string{"C04", "C05", "C06"} {
			e.MustMoney(prepaid.Deposit, c, "300.00")
		}
	})
	e.Clock.Set(e.Clock.Now().AddDate(0, 1, 0))
	april := march.AddDate(0, 1, 0)
	if _, err := e.Ledger.ClosePeriod(ctx, "2026-04", april, april.AddDate(0, 1, 0), "finance"); err != nil {
		t.Fatal(err)
	}
	var kept, held int
	e.Scan(t, `SELECT count(*) FROM period_balances`, &kept)
	e.Scan(t, `SELECT count(*) FROM (SELECT account_id FROM postings GROUP BY 1 HAVING sum(amount) <> 0) h`, &held)
	if kept != held || kept == 0 {
		t.Errorf("April's close kept %d balances; %d accounts have one", kept, held)
	}
	atHead(t, m, 45, func() { e.MustMoney(prepaid.Deposit, "C06", "7.00") })
	if at := e.Clock.Now(); !same(balancesAsOf(at), sumsAsOf(at)) {
		t.Errorf("after April's close, balances as of %s: %v, the postings say %v", at, balancesAsOf(at), sumsAsOf(at))
	}
	proveBooks(t, m, e, url)

	rowsAt45 := tableDigests(t, pool)
	if err := m.Migrate(44); err != nil {
		t.Fatalf("0045 down: %v", err)
	}
	delete(rowsAt45, "period_balances")
	wantSameRows(t, "after 0045 down", rowsAt45, tableDigests(t, pool))
}
