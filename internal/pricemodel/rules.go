// Package pricemodel is a second, independent statement of the loyalty and
// prepaid rules, written from the business rules (the worked examples and
// formulas of the domain description and the README), not from the code:
// tiers, volume and campaign points, referral and feedback bonuses, refund
// take-backs, lot expiry, rebates, charges and clawbacks, and a small book of
// points (Books) that applies partner events, redemptions and expiry runs
// the way the service documents them.
//
// Tests compare the rules package and the service with it, so a pricing bug
// shared by the service's paths still shows. It is deliberately plain:
// exact rational arithmetic, loops over slices, one rule per function, each
// commented with the rule it states. It must never import rules, ledger or
// loyalty (it would then share what it is meant to check), and it never
// touches a database or a clock.
package pricemodel

import (
	"time"

	"github.com/shopspring/decimal"
)

// Rules are the configurable values of the rules (a rule set). Default is
// the domain's.
type Rules struct {
	// Zone is where calendar months begin and end.
	Zone *time.Location
	// Segments in ascending order of Min. Each runs up to the next one's
	// Min; the last is open-ended and gains one level per LevelStep above
	// its Min, up to its LastLevel.
	Segments []Segment
	// PointsPerCNY is the base earning rate.
	PointsPerCNY decimal.Decimal
	// Referral: the referee's first shipment of at least ReferralMin earns
	// the referrer ReferralBonus, pending for PendingDays; at most
	// ReferralCap bonuses per referrer per calendar month are paid.
	ReferralBonus int64
	ReferralMin   decimal.Decimal
	ReferralCap   int
	PendingDays   int
	// FeedbackPoints are earned for rating a shipment, once per shipment.
	FeedbackPoints int64
	// ExpiryMonths: a lot expires at the end of the ExpiryMonths-th calendar
	// month after the month it was earned.
	ExpiryMonths int
	// Rebates: a single deposit of at least Min earns Rate (ascending).
	Rebates []RebateRate
}

// Segment is a band of monthly contribution.
type Segment struct {
	Code                  string
	Min                   decimal.Decimal
	FirstLevel, LastLevel int
	Multiplier            decimal.Decimal
	LevelStep             decimal.Decimal // the last segment only
}

// RebateRate is one row of the deposit rebate table.
type RebateRate struct {
	Min  decimal.Decimal
	Rate decimal.Decimal
}

// Default is the rule set the domain describes, typed in from its tables.
func Default() Rules {
	zone, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	d := decimal.RequireFromString
	return Rules{
		Zone: zone,
		// | floating | c < 300 | 1-3 | ... | project | c >= 100,000 | 31-40 |
		// multipliers floating 1.0, regular 1.0, mid 1.2, vip 1.5, project 2.0
		Segments: []Segment{
			{Code: "floating", Min: d("0"), FirstLevel: 1, LastLevel: 3, Multiplier: d("1.0")},
			{Code: "regular", Min: d("300"), FirstLevel: 4, LastLevel: 8, Multiplier: d("1.0")},
			{Code: "mid", Min: d("2000"), FirstLevel: 9, LastLevel: 15, Multiplier: d("1.2")},
			{Code: "vip", Min: d("10000"), FirstLevel: 16, LastLevel: 30, Multiplier: d("1.5")},
			// Project: min(40, 31 + floor((c-100000)/100000)).
			{Code: "project", Min: d("100000"), FirstLevel: 31, LastLevel: 40, Multiplier: d("2.0"), LevelStep: d("100000")},
		},
		PointsPerCNY:   d("1"),
		ReferralBonus:  500,
		ReferralMin:    d("50"),
		ReferralCap:    20,
		PendingDays:    14,
		FeedbackPoints: 10,
		ExpiryMonths:   12,
		Rebates: []RebateRate{
			{Min: d("0"), Rate: d("0")},
			{Min: d("1000"), Rate: d("0.02")},
			{Min: d("5000"), Rate: d("0.03")},
			{Min: d("10000"), Rate: d("0.04")},
			{Min: d("50000"), Rate: d("0.05")},
		},
	}
}
