package finance

import (
	"context"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// SegmentReport is the customer pyramid of a month: customers and
// contribution per segment (by that month's contribution), and the A/B/C
// split by contribution: A the top 5% of customers (ceil), B the next 15%
// (to ceil of 20%), C the remaining 80%, each with its share of the
// month's contribution.
type SegmentReport struct {
	Month        rules.Month `json:"month"`
	RuleVersion  int         `json:"rule_version"`
	Customers    int         `json:"customers"`
	Contribution money.CNY   `json:"contribution"`
	Segments     []GroupRow  `json:"segments"`
	Classes      []GroupRow  `json:"classes"`
}

// GroupRow is one segment or class of the pyramid.
type GroupRow struct {
	Name         string          `json:"name"`
	Customers    int             `json:"customers"`
	Contribution money.CNY       `json:"contribution"`
	Share        decimal.Decimal `json:"share"` // of the month's contribution, rounded to 4 decimals
}

// Segments computes the pyramid for the month, over every customer
// registered by its end (those without shipments count with 0) and every
// customer registered later whose shipments dated in it were recorded.
func (s *Service) Segments(ctx context.Context, month rules.Month) (SegmentReport, error) {
	rep := SegmentReport{Month: month}
	err := s.ledger.ReadTx(ctx, func(tx *ledger.Tx) error {
		rs, end, err := s.rulesAtEndOf(ctx, tx, month)
		if err != nil {
			return err
		}
		rep.RuleVersion = rs.Version
		bySegment := map[string]*GroupRow{}
		for _, seg := range rs.Segments {
			g := &GroupRow{Name: seg.Code}
			bySegment[seg.Code] = g
		}
		classes := []*GroupRow{{Name: "A"}, {Name: "B"}, {Name: "C"}}
		err = loyalty.RankContributions(ctx, tx, month, end, func(c loyalty.RankedContribution) error {
			rep.Customers, rep.Contribution = c.Of, money.Of(rep.Contribution.Add(c.Amount))
			g := bySegment[rs.TierOf(c.Amount).Segment]
			g.Customers, g.Contribution = g.Customers+1, money.Of(g.Contribution.Add(c.Amount))
			class := classes[2]
			switch {
			case c.Rank <= ceilPercent(c.Of, 5):
				class = classes[0]
			case c.Rank <= ceilPercent(c.Of, 20):
				class = classes[1]
			}
			class.Customers, class.Contribution = class.Customers+1, money.Of(class.Contribution.Add(c.Amount))
			return nil
		})
		if err != nil {
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
					list[i].Share = list[i].Contribution.DivRound(rep.Contribution.Decimal, 4)
				}
			}
		}
		return nil
	})
	return rep, err
}

// rulesAtEndOf is the rule set in effect at the month's last instant (a
// microsecond, PostgreSQL's precision, before it ends), and the month's end:
// the first instant of the next month in that rule set's zone. The zone
// comes from the version in effect near the end (the next month's start in
// UTC, within hours of it); a version whose zone differs moves the end to
// its own.
func (s *Service) rulesAtEndOf(ctx context.Context, tx *ledger.Tx, month rules.Month) (rules.RuleSet, time.Time, error) {
	near, err := s.customers.RulesAtIn(ctx, tx, month.Start(time.UTC).AddDate(0, 1, 0))
	if err != nil {
		return near, time.Time{}, err
	}
	rs, err := s.customers.RulesAtIn(ctx, tx, month.Start(near.Location()).AddDate(0, 1, 0).Add(-time.Microsecond))
	return rs, month.Start(rs.Location()).AddDate(0, 1, 0), err
}

func ceilPercent(n, pct int) int { return (n*pct + 99) / 100 }
