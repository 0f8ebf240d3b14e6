package rules_test

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/rules"
)

// Pricing a shipment: the tier in effect comes from last month's total and
// this month's contribution so far (before the shipment), then the earning
// applies the tier's multiplier and the best campaign running at the
// shipment's time. The points become a lot that expires per the rules.
func ExampleRuleSet_EarnShipment() {
	rs := rules.Default() // version 1, the rules of docs/RULES.md
	cny := decimal.RequireFromString

	// October's total was 5,000.00; so far in November, 100.00.
	tier, basis := rs.TierInEffect(cny("5000.00"), cny("100.00"))
	fmt.Printf("tier: %s, level %d (set by %s)\n", tier.Segment, tier.Level, basis)

	shanghai := rs.Location()
	singlesDay := rules.Campaign{ID: "double-11", Multiplier: cny("2"), Segments: []string{"mid", "vip"},
		StartsAt: time.Date(2026, 11, 11, 0, 0, 0, 0, shanghai), EndsAt: time.Date(2026, 11, 12, 0, 0, 0, 0, shanghai)}
	at := time.Date(2026, 11, 11, 10, 0, 0, 0, shanghai)

	e := rs.EarnShipment(cny("123.45"), tier, at, []rules.Campaign{singlesDay})
	fmt.Printf("base %s × tier %s × campaign %s (%s)\n", e.Base, e.Multiplier, e.CampaignMultiplier, *e.Campaign)
	fmt.Printf("points: %d volume + %d campaign = %d\n", e.Volume, e.CampaignPoints, e.Points)
	fmt.Println("they expire at", rs.ExpiresAt(at).Format(time.RFC3339))

	// The same shipment a day later: the campaign is over.
	e = rs.EarnShipment(cny("123.45"), tier, at.AddDate(0, 0, 1), []rules.Campaign{singlesDay})
	fmt.Printf("a day later: %d points, campaign %v\n", e.Points, e.Campaign)
	// Output:
	// tier: mid, level 11 (set by last_month)
	// base 123.45 × tier 1.2 × campaign 2 (double-11)
	// points: 148 volume + 148 campaign = 296
	// they expire at 2027-12-01T00:00:00+08:00
	// a day later: 148 points, campaign <nil>
}

// A referee's first shipment of at least 50.00 earns their referrer a
// bonus, pending for the return window; over the referrer's monthly cap it
// is recorded, not paid.
func ExampleRuleSet_ReferralFor() {
	rs := rules.Default()
	at := time.Date(2026, 3, 15, 10, 0, 0, 0, rs.Location())

	outcome, bonus, availableAt := rs.ReferralFor(decimal.RequireFromString("50.00"), at,
		rules.ReferralState{HasReferrer: true, PaidThisMonth: 3})
	fmt.Printf("%s: %d points, available from %s\n", outcome, bonus, availableAt.Format(time.RFC3339))

	outcome, bonus, _ = rs.ReferralFor(decimal.RequireFromString("50.00"), at,
		rules.ReferralState{HasReferrer: true, PaidThisMonth: 20})
	fmt.Printf("%s: %d points\n", outcome, bonus)
	// Output:
	// pending: 500 points, available from 2026-03-29T10:00:00+08:00
	// capped: 0 points
}

// A refund takes back points in proportion to everything refunded of the
// shipment so far, less what earlier refunds took.
func ExampleTakeBack() {
	cny := decimal.RequireFromString
	// A shipment of 123.45 earned 148 points. First, 23.45 is refunded:
	first := rules.TakeBack(148, cny("123.45"), cny("0"), cny("23.45"), 0)
	fmt.Println("first refund takes back", first)
	// Then the remaining 100.00: the two refunds cover the whole shipment.
	second := rules.TakeBack(148, cny("123.45"), cny("23.45"), cny("100.00"), first)
	fmt.Println("second refund takes back", second, "- in all", first+second)
	// Output:
	// first refund takes back 28
	// second refund takes back 120 - in all 148
}

// A deposit's rebate is the rate of the schedule for that single deposit,
// rounded down to the fen.
func ExampleRuleSet_Rebate() {
	rs := rules.Default()
	for _, deposit := range []string{"999.99", "5000.00", "12345.67"} {
		rate, rebate := rs.Rebate(decimal.RequireFromString(deposit))
		fmt.Printf("deposit %s: rate %s, rebate %s\n", deposit, rate, rebate.StringFixed(2))
	}
	// Output:
	// deposit 999.99: rate 0, rebate 0.00
	// deposit 5000.00: rate 0.03, rebate 150.00
	// deposit 12345.67: rate 0.04, rebate 493.82
}

// A withdrawal claws back rebate in proportion to the principal withdrawn.
func ExampleClawback() {
	cny := decimal.RequireFromString
	// Principal 10,000.00 with a rebate of 400.00: withdraw 2,500.00, then the rest.
	first := rules.Clawback(cny("400.00"), cny("10000.00"), cny("2500.00"))
	second := rules.Clawback(cny("300.00"), cny("7500.00"), cny("7500.00"))
	fmt.Println("clawed back", first.StringFixed(2), "then", second.StringFixed(2))
	// Output:
	// clawed back 100.00 then 300.00
}
