package prepaid

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// checkPage is how many deposits the rebate check reads at a time, through
// a cursor of its snapshot, before it asks the ledger about them.
const checkPage = "1000"

// RebateCheck recomputes every deposit's rebate from its amount and the
// rule version that priced it, and compares it with the rebate recorded and
// the rebate posted. It is one of ledger.Reconcile's extra checks, run in
// its snapshot.
func (s *Service) RebateCheck(ctx context.Context, tx *ledger.Tx) (ledger.Check, error) {
	check := ledger.Check{Name: "rebates_match_rules",
		Description: "every deposit's rebate equals its amount priced by the rule version recorded with it", Pass: true,
		Offending: []string{}}
	vrows, err := tx.Query(ctx, `SELECT DISTINCT rule_version FROM money_movements WHERE kind = 'deposit'`)
	if err != nil {
		return check, err
	}
	used, err := pgx.CollectRows(vrows, pgx.RowTo[int])
	if err != nil {
		return check, err
	}
	versions := map[int]rules.RuleSet{}
	for _, v := range used {
		if versions[v], err = s.customers.RuleVersion(ctx, tx, v); err != nil {
			return check, err
		}
	}
	type deposit struct {
		id, customer           string
		amount, recorded, rate decimal.Decimal
		version                int
		entry                  int64
	}
	// The deposits a page at a time, each page's posted rebates read from
	// the ledger in one statement.
	if _, err := tx.Exec(ctx, `DECLARE deposits NO SCROLL CURSOR FOR
SELECT id, customer_id, amount, rule_version, coalesce(rebate, -1), coalesce(rate, -1), entry_id
FROM money_movements WHERE kind = 'deposit' ORDER BY id`); err != nil {
		return check, err
	}
	for {
		rows, err := tx.Query(ctx, `FETCH `+checkPage+` FROM deposits`)
		if err != nil {
			return check, err
		}
		page, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (deposit, error) {
			var d deposit
			err := row.Scan(&d.id, &d.customer, &d.amount, &d.version, &d.recorded, &d.rate, &d.entry)
			return d, err
		})
		if err != nil {
			return check, err
		}
		if len(page) == 0 {
			_, err := tx.Exec(ctx, `CLOSE deposits`)
			return check, err
		}
		entries, codes := make([]int64, len(page)), make([]string, len(page))
		for i, d := range page {
			entries[i], codes[i] = d.entry, ledger.CustomerAccount(d.customer, "rebate")
		}
		posted, err := tx.PostedAmounts(ctx, entries, codes)
		if err != nil {
			return check, err
		}
		for i, d := range page {
			rs := versions[d.version]
			wantRate, want := rs.Rebate(d.amount)
			if !want.Equal(d.recorded) || !want.Equal(posted[i]) || !wantRate.Equal(d.rate) {
				check.Pass = false
				if len(check.Offending) < 100 {
					check.Offending = append(check.Offending, "deposit:"+d.id)
				}
			}
		}
	}
}
