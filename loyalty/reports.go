package loyalty

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Finance reports of the loyalty programme, composed from the ledger's
// movements report (ledger.Movements): each in one read-only snapshot,
// streamed row by row, so that their memory does not grow with the books.
// The trial balance is the ledger's own (ledger.TrialBalance).

// RebateRow is the rebate roll-forward of one customer (or of all, in the
// total): opening + granted - used by charges - clawed back + adjustments
// = closing. Deposits and the effective rate (granted / deposits) go with it.
type RebateRow struct {
	CustomerID    string
	Opening       decimal.Decimal
	Granted       decimal.Decimal
	Used          decimal.Decimal
	ClawedBack    decimal.Decimal
	Adjustments   decimal.Decimal
	Closing       decimal.Decimal
	Deposits      decimal.Decimal
	EffectiveRate decimal.Decimal
}

func (r *RebateRow) add(o RebateRow) {
	r.Opening, r.Granted, r.Used = r.Opening.Add(o.Opening), r.Granted.Add(o.Granted), r.Used.Add(o.Used)
	r.ClawedBack, r.Adjustments = r.ClawedBack.Add(o.ClawedBack), r.Adjustments.Add(o.Adjustments)
	r.Closing, r.Deposits = r.Closing.Add(o.Closing), r.Deposits.Add(o.Deposits)
}

func (r *RebateRow) rate() {
	if r.Deposits.IsPositive() {
		r.EffectiveRate = r.Granted.DivRound(r.Deposits, 4)
	}
}

// RebateReport emits the rebate roll-forward for [from, to) of every
// customer who has had a rebate or a deposit, in customer order, and returns
// the total, which is their sum.
func (s *Service) RebateReport(ctx context.Context, from, to time.Time, emit func(RebateRow) error) (RebateRow, error) {
	total := RebateRow{CustomerID: "TOTAL"}
	// A customer's prepaid and rebate accounts come one after the other
	// (ordered by customer): their row is emitted when the next customer's
	// accounts begin.
	var row *RebateRow
	flush := func() error {
		if row == nil {
			return nil
		}
		r := *row
		row = nil
		r.rate()
		total.add(r)
		return emit(r)
	}
	err := s.ledger.Movements(ctx, ledger.MovementFilter{Prefix: "customer:", Suffixes: []string{":rebate", ":prepaid"}}, from, to,
		func(m ledger.Movements) error {
			customer, _ := ledger.CustomerOf(m.Account)
			if row != nil && row.CustomerID != customer {
				if err := flush(); err != nil {
					return err
				}
			}
			if row == nil {
				row = &RebateRow{CustomerID: customer}
			}
			if strings.HasSuffix(m.Account, ":prepaid") {
				row.Deposits = m.ByKind[Deposit]
				return nil
			}
			row.Opening, row.Closing = m.Opening, m.Closing
			for kind, amount := range m.ByKind {
				switch kind {
				case Deposit:
					row.Granted = amount
				case Charge:
					row.Used = amount.Neg()
				case Withdrawal:
					row.ClawedBack = amount.Neg()
				default:
					row.Adjustments = row.Adjustments.Add(amount)
				}
			}
			return nil
		})
	if err == nil {
		err = flush()
	}
	total.rate()
	return total, err
}

// PointsReport is the points liability roll-forward for a period: opening +
// earned (by channel, net of refund take-backs) - redeemed (net of
// cancellations) - expired = closing.
type PointsReport struct {
	From, To time.Time
	Opening  int64
	Earned   map[string]int64 // volume, referral, feedback, campaign, adjustment
	Redeemed int64
	Expired  int64
	Closing  int64
}

// PointsChannels are the earning channels of the points report, in order.
var PointsChannels = []string{"volume", "referral", "feedback", "campaign", "adjustment"}

// EarnedTotal sums the channels.
func (p PointsReport) EarnedTotal() int64 {
	var n int64
	for _, v := range p.Earned {
		n += v
	}
	return n
}

// PointsRollForward computes the points report for [from, to). The
// liability is what customers hold: the opposite of the platform's points
// accounts, which sum with the customers' to zero.
func (s *Service) PointsRollForward(ctx context.Context, from, to time.Time) (PointsReport, error) {
	rep := PointsReport{From: from, To: to, Earned: map[string]int64{}}
	err := s.ledger.Movements(ctx, ledger.MovementFilter{Prefix: "platform:points:"}, from, to, func(m ledger.Movements) error {
		before, during := m.Opening.IntPart(), m.Closing.Sub(m.Opening).IntPart()
		rep.Opening -= before
		rep.Closing -= before + during
		switch m.Account {
		case "platform:points:redeemed":
			rep.Redeemed += during
		case "platform:points:expired":
			rep.Expired += during
		default:
			channel := strings.TrimPrefix(m.Account, "platform:points:earned:")
			rep.Earned[channel] -= during
		}
		return nil
	})
	for _, c := range PointsChannels {
		rep.Earned[c] += 0
	}
	return rep, err
}

// SegmentReport is the customer pyramid of a month: customers and
// contribution per segment (by that month's contribution), and the A/B/C
// split by contribution: A the top 5% of customers (ceil), B the next 15%
// (to ceil of 20%), C the remaining 80%, each with its share of the
// month's contribution.
type SegmentReport struct {
	Month        rules.Month     `json:"month"`
	RuleVersion  int             `json:"rule_version"`
	Customers    int             `json:"customers"`
	Contribution decimal.Decimal `json:"contribution"`
	Segments     []GroupRow      `json:"segments"`
	Classes      []GroupRow      `json:"classes"`
}

// GroupRow is one segment or class of the pyramid.
type GroupRow struct {
	Name         string          `json:"name"`
	Customers    int             `json:"customers"`
	Contribution decimal.Decimal `json:"contribution"`
	Share        decimal.Decimal `json:"share"` // of the month's contribution, rounded to 4 decimals
}

// Segments computes the pyramid for the month, over every customer
// registered by its end (those without shipments count with 0).
func (s *Service) Segments(ctx context.Context, month rules.Month) (SegmentReport, error) {
	rep := SegmentReport{Month: month}
	err := s.ledger.ReadTx(ctx, func(tx *ledger.Tx) error {
		rs, err := s.rulesAt(ctx, tx, month.Start(time.UTC).AddDate(0, 1, 0))
		if err != nil {
			return err
		}
		end := month.Start(rs.Location()).AddDate(0, 1, 0)
		rep.RuleVersion = rs.Version
		bySegment := map[string]*GroupRow{}
		for _, seg := range rs.Segments {
			g := &GroupRow{Name: seg.Code}
			bySegment[seg.Code] = g
		}
		classes := []*GroupRow{{Name: "A"}, {Name: "B"}, {Name: "C"}}
		rows, err := tx.Query(ctx, `WITH c AS (
    SELECT cu.id, coalesce(m.contribution, 0) AS contribution
    FROM customers cu LEFT JOIN customer_months m ON m.customer_id = cu.id AND m.month = $1
    WHERE cu.created_at < $2)
SELECT contribution, row_number() OVER (ORDER BY contribution DESC, id), count(*) OVER ()
FROM c ORDER BY contribution DESC, id`, string(month), end)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c decimal.Decimal
			var rank, n int
			if err := rows.Scan(&c, &rank, &n); err != nil {
				return err
			}
			rep.Customers, rep.Contribution = n, rep.Contribution.Add(c)
			g := bySegment[rs.TierOf(c).Segment]
			g.Customers, g.Contribution = g.Customers+1, g.Contribution.Add(c)
			class := classes[2]
			switch {
			case rank <= ceilPercent(n, 5):
				class = classes[0]
			case rank <= ceilPercent(n, 20):
				class = classes[1]
			}
			class.Customers, class.Contribution = class.Customers+1, class.Contribution.Add(c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, seg := range rs.Segments {
			rep.Segments = append(rep.Segments, *bySegment[seg.Code])
		}
		for _, c := range classes {
			rep.Classes = append(rep.Classes, *c)
		}
		for _, list := range [][]GroupRow{rep.Segments, rep.Classes} {
			for i := range list {
				if rep.Contribution.IsPositive() {
					list[i].Share = list[i].Contribution.DivRound(rep.Contribution, 4)
				}
			}
		}
		return nil
	})
	return rep, err
}

func ceilPercent(n, pct int) int { return (n*pct + 99) / 100 }

// checkPage is how many rows an extra check reads at a time, through a
// cursor of its snapshot, before it asks the ledger about them.
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
		if versions[v], err = s.version(ctx, tx, v); err != nil {
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

// ReferenceCheck reports the rows of the event tables (which keep no
// foreign keys, for speed) that name a customer, an API key or an entry
// that does not exist: at most 100 of them. For ledger.Reconcile's extra
// checks.
func (s *Service) ReferenceCheck(ctx context.Context, tx *ledger.Tx) (ledger.Check, error) {
	check := ledger.Check{Name: "event_rows_intact",
		Description: "every shipment, event and month names an existing customer, API key and entry"}
	rows, err := tx.Query(ctx, `SELECT 'shipment:' || s.shipment_id FROM shipments s
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id)
UNION ALL
SELECT 'event:' || v.key_id || ':' || v.event_id FROM events v
WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = v.key_id)
UNION ALL
SELECT 'month:' || m.customer_id || ':' || m.month FROM customer_months m
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)
LIMIT 100`)
	if err != nil {
		return check, err
	}
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return check, err
	}
	named := map[string]bool{}
	for _, b := range bad {
		named[b] = true
	}
	// The entries they name, a page at a time, asked of the ledger.
	if _, err := tx.Exec(ctx, `DECLARE entry_refs NO SCROLL CURSOR FOR
SELECT 'shipment:' || shipment_id, entry_id FROM shipments WHERE entry_id IS NOT NULL
UNION ALL
SELECT 'event:' || key_id || ':' || event_id, entry_id FROM events WHERE entry_id IS NOT NULL`); err != nil {
		return check, err
	}
	for len(bad) < 100 {
		rows, err := tx.Query(ctx, `FETCH `+checkPage+` FROM entry_refs`)
		if err != nil {
			return check, err
		}
		var names []string
		var ids []int64
		var name string
		var id int64
		if _, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error {
			names, ids = append(names, name), append(ids, id)
			return nil
		}); err != nil {
			return check, err
		}
		if len(ids) == 0 {
			break
		}
		missing, err := tx.MissingEntries(ctx, ids)
		if err != nil {
			return check, err
		}
		gone := make(map[int64]bool, len(missing))
		for _, id := range missing {
			gone[id] = true
		}
		for i, id := range ids {
			if gone[id] && !named[names[i]] && len(bad) < 100 {
				named[names[i]] = true
				bad = append(bad, names[i])
			}
		}
	}
	if _, err := tx.Exec(ctx, `CLOSE entry_refs`); err != nil {
		return check, err
	}
	if bad == nil {
		bad = []string{}
	}
	check.Pass, check.Offending = len(bad) == 0, bad
	return check, nil
}
