package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// History is what the customer lifecycle reads of a customer for a month
// (rules.Lifecycle.StageOf): the first month they contributed in, up to
// the month, and their contributions in the months up to it.
type History struct {
	CustomerID string
	First      rules.Month // "" when none up to the month
	Months     map[rules.Month]decimal.Decimal
}

// Histories reads, customer by customer in id order, the History of every
// customer of the month through (of customerID only, when it is not ""):
// registered before registeredBefore, or registered later with shipments
// dated through it; their contributions in the span months up to it
// (rules.Lifecycle.Span).
func Histories(ctx context.Context, tx *ledger.Tx, through rules.Month, span int, registeredBefore time.Time, customerID string,
	emit func(History) error) error {
	from := through
	for range span - 1 {
		from = from.Prev()
	}
	// One customer's history is a probe of customers_pkey, on any plan: a
	// statement of its own, not "id = $4 OR $4 IS NULL", which a generic
	// plan (a profile's reads run in InTxGeneric) tests row by row.
	q, args := qHistories+` AND cu.id = $4 ORDER BY cu.id`, []any{string(through), string(from), registeredBefore, customerID}
	if customerID == "" {
		q, args = qHistories+` ORDER BY cu.id`, args[:3]
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		h             History
		months        []string
		contributions []decimal.Decimal
		first         string
	)
	_, err = pgx.ForEachRow(rows, []any{&h.CustomerID, &first, &months, &contributions}, func() error {
		h.First, h.Months = rules.Month(first), make(map[rules.Month]decimal.Decimal, len(months))
		for i, m := range months {
			h.Months[rules.Month(m)] = contributions[i]
		}
		return emit(h)
	})
	return err
}

// qHistories reads customers' contributions by month, through $1, from $2
// on, of those who are customers by then: registered before $3, or with
// shipments dated through $1.
const qHistories = `SELECT cu.id,
    coalesce((SELECT min(f.month) FROM customer_months f WHERE f.customer_id = cu.id AND f.contribution > 0 AND f.month <= $1), ''),
    coalesce((SELECT array_agg(w.month ORDER BY w.month) FROM customer_months w
              WHERE w.customer_id = cu.id AND w.month BETWEEN $2 AND $1), '{}'),
    coalesce((SELECT array_agg(w.contribution ORDER BY w.month) FROM customer_months w
              WHERE w.customer_id = cu.id AND w.month BETWEEN $2 AND $1), '{}')
FROM customers cu
WHERE (cu.created_at < $3 OR ` + shippedThrough + `)`

// shippedThrough holds for a customer cu with shipments dated in a month
// through $1 (a customer months row): with registration before a month's
// end, what makes a customer one of that month's in its reports.
const shippedThrough = `EXISTS (SELECT FROM customer_months x WHERE x.customer_id = cu.id AND x.month <= $1)`

// RulesAtEndOf is the rule set in effect at the month's last instant (a
// microsecond before the next month begins in the zone of the version in
// effect near then), and the month's end.
func (s *Service) RulesAtEndOf(ctx context.Context, tx *ledger.Tx, month rules.Month) (rules.RuleSet, time.Time, error) {
	near, err := s.rulesAt(ctx, tx, month.Start(time.UTC).AddDate(0, 1, 0))
	if err != nil {
		return near, time.Time{}, err
	}
	rs, err := s.rulesAt(ctx, tx, month.Start(near.Location()).AddDate(0, 1, 0).Add(-time.Microsecond))
	return rs, month.Start(rs.Location()).AddDate(0, 1, 0), err
}

// stageOf is the customer's lifecycle stage at the end of the month, by
// the thresholds in effect then.
func (s *Service) stageOf(ctx context.Context, tx *ledger.Tx, id string, month rules.Month) (rules.Stage, error) {
	rs, _, err := s.RulesAtEndOf(ctx, tx, month)
	if err != nil {
		return rules.Stage{}, err
	}
	st := rs.Lifecycle.StageOf(month, "", nil)
	err = Histories(ctx, tx, month, rs.Lifecycle.Span(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), id, func(h History) error {
		st = rs.Lifecycle.StageOf(month, h.First, h.Months)
		return nil
	})
	return st, err
}
