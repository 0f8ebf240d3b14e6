package loyalty

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Finance reports. Every figure is computed from postings by effective
// time, in one read-only snapshot; the row reports stream row by row, so
// their memory does not grow with the books.

// TrialRow is an account's balance at an instant, on its side.
type TrialRow struct {
	Account string
	Asset   ledger.Asset
	Debit   decimal.Decimal // -balance when the balance is negative
	Credit  decimal.Decimal // balance when positive
	Balance decimal.Decimal
}

// AssetTotal sums one asset's side of the trial balance.
type AssetTotal struct {
	Asset    ledger.Asset    `json:"asset"`
	Debits   decimal.Decimal `json:"debits"`
	Credits  decimal.Decimal `json:"credits"`
	Balanced bool            `json:"balanced"`
}

// TrialBalance emits every account with its balance as of asOf (entries
// effective at or before it), in code order, and returns the totals per
// asset: debits equal credits.
func (s *Service) TrialBalance(ctx context.Context, asOf time.Time, emit func(TrialRow) error) ([]AssetTotal, error) {
	totals := map[ledger.Asset]*AssetTotal{}
	err := s.ledger.ReadTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT a.code, a.asset, coalesce(sum(p.amount), 0)
FROM accounts a LEFT JOIN postings p ON p.account_id = a.id AND p.effective_at <= $1
GROUP BY a.code, a.asset ORDER BY a.code`, asOf)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r TrialRow
			if err := rows.Scan(&r.Account, &r.Asset, &r.Balance); err != nil {
				return err
			}
			if r.Balance.IsNegative() {
				r.Debit = r.Balance.Neg()
			} else {
				r.Credit = r.Balance
			}
			t := totals[r.Asset]
			if t == nil {
				t = &AssetTotal{Asset: r.Asset}
				totals[r.Asset] = t
			}
			t.Debits, t.Credits = t.Debits.Add(r.Debit), t.Credits.Add(r.Credit)
			if err := emit(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	out := make([]AssetTotal, 0, len(totals))
	for _, t := range totals {
		t.Balanced = t.Debits.Equal(t.Credits)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out, err
}

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

// movementClass classifies a posting by its entry: a reversal counts, with
// its opposite sign, in the class of what it reversed.
const movementClass = `coalesce(e.metadata->>'reversed_kind', e.kind)`

// RebateReport emits the rebate roll-forward for [from, to) of every
// customer who has had a rebate or a deposit, in customer order, and returns
// the total, which is their sum.
func (s *Service) RebateReport(ctx context.Context, from, to time.Time, emit func(RebateRow) error) (RebateRow, error) {
	total := RebateRow{CustomerID: "TOTAL"}
	err := s.ledger.ReadTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT split_part(a.code, ':', 2) AS customer,
    coalesce(sum(p.amount) FILTER (WHERE a.code LIKE '%:rebate' AND p.effective_at < $1), 0),
    coalesce(sum(p.amount) FILTER (WHERE a.code LIKE '%:rebate' AND p.effective_at >= $1 AND `+movementClass+` = 'deposit'), 0),
    coalesce(-sum(p.amount) FILTER (WHERE a.code LIKE '%:rebate' AND p.effective_at >= $1 AND `+movementClass+` = 'charge'), 0),
    coalesce(-sum(p.amount) FILTER (WHERE a.code LIKE '%:rebate' AND p.effective_at >= $1 AND `+movementClass+` = 'withdrawal'), 0),
    coalesce(sum(p.amount) FILTER (WHERE a.code LIKE '%:rebate' AND p.effective_at >= $1
        AND `+movementClass+` NOT IN ('deposit', 'charge', 'withdrawal')), 0),
    coalesce(sum(p.amount) FILTER (WHERE a.code LIKE '%:rebate'), 0),
    coalesce(sum(p.amount) FILTER (WHERE a.code LIKE '%:prepaid' AND p.effective_at >= $1 AND `+movementClass+` = 'deposit'), 0)
FROM postings p
JOIN accounts a ON a.id = p.account_id
JOIN entries e ON e.id = p.entry_id
WHERE a.code LIKE 'customer:%' AND (a.code LIKE '%:rebate' OR a.code LIKE '%:prepaid') AND p.effective_at < $2
GROUP BY 1 ORDER BY 1`, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r RebateRow
			if err := rows.Scan(&r.CustomerID, &r.Opening, &r.Granted, &r.Used, &r.ClawedBack, &r.Adjustments, &r.Closing,
				&r.Deposits); err != nil {
				return err
			}
			r.rate()
			total.add(r)
			if err := emit(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
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
	err := s.ledger.ReadTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT a.code,
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at < $1), 0),
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at >= $1), 0)
FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.asset = 'PTS' AND a.allow_negative AND p.effective_at < $2
GROUP BY a.code`, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var code string
			var before, during int64
			if err := rows.Scan(&code, &before, &during); err != nil {
				return err
			}
			rep.Opening -= before
			rep.Closing -= before + during
			switch code {
			case "platform:points:redeemed":
				rep.Redeemed += during
			case "platform:points:expired":
				rep.Expired += during
			default:
				channel := code[len("platform:points:earned:"):]
				rep.Earned[channel] -= during
			}
		}
		return rows.Err()
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
	err := s.ledger.ReadTx(ctx, func(tx pgx.Tx) error {
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

// RebateCheck recomputes every deposit's rebate from its amount and the
// rule version that priced it, and compares it with the rebate recorded and
// the rebate posted. It is one of ledger.Reconcile's extra checks, run in
// its snapshot.
func (s *Service) RebateCheck(ctx context.Context, tx pgx.Tx) (ledger.Check, error) {
	check := ledger.Check{Name: "rebates_match_rules",
		Description: "every deposit's rebate equals its amount priced by the rule version recorded with it", Pass: true,
		Offending: []string{}}
	err := func() error {
		// The rule versions first: one connection cannot query while it
		// streams the deposits.
		vrows, err := tx.Query(ctx, `SELECT DISTINCT rule_version FROM money_movements WHERE kind = 'deposit'`)
		if err != nil {
			return err
		}
		used, err := pgx.CollectRows(vrows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		versions := map[int]rules.RuleSet{}
		for _, v := range used {
			if versions[v], err = s.version(ctx, tx, v); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT m.id, m.amount, m.rule_version, coalesce(m.rebate, -1), coalesce(m.rate, -1),
    coalesce((SELECT p.amount FROM postings p JOIN accounts a ON a.id = p.account_id
              WHERE p.entry_id = m.entry_id AND a.code = 'customer:' || m.customer_id || ':rebate'), 0)
FROM money_movements m WHERE m.kind = 'deposit' ORDER BY m.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var amount, recorded, rate, posted decimal.Decimal
			var version int
			if err := rows.Scan(&id, &amount, &version, &recorded, &rate, &posted); err != nil {
				return err
			}
			rs := versions[version]
			wantRate, want := rs.Rebate(amount)
			if !want.Equal(recorded) || !want.Equal(posted) || !wantRate.Equal(rate) {
				check.Pass = false
				if len(check.Offending) < 100 {
					check.Offending = append(check.Offending, "deposit:"+id)
				}
			}
		}
		return rows.Err()
	}()
	return check, err
}

// ReferenceCheck reports the rows of the event tables (which keep no
// foreign keys, for speed) that name a customer, an API key or an entry
// that does not exist. For ledger.Reconcile's extra checks.
func (s *Service) ReferenceCheck(ctx context.Context, tx pgx.Tx) (ledger.Check, error) {
	rows, err := tx.Query(ctx, `SELECT 'shipment:' || s.shipment_id FROM shipments s
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id)
   OR (s.entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.id = s.entry_id))
UNION ALL
SELECT 'event:' || v.key_id || ':' || v.event_id FROM events v
WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = v.key_id)
   OR (v.entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.id = v.entry_id))
UNION ALL
SELECT 'month:' || m.customer_id || ':' || m.month FROM customer_months m
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = m.customer_id)
LIMIT 100`)
	if err != nil {
		return ledger.Check{}, err
	}
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if bad == nil {
		bad = []string{}
	}
	return ledger.Check{Name: "event_rows_intact",
		Description: "every shipment, event and month names an existing customer, API key and entry",
		Pass:        len(bad) == 0, Offending: bad}, err
}
