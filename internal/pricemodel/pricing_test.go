package pricemodel

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The worked examples of the domain description, and the boundaries next to
// them, each checked against the model.

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func TestTierOfMatchesTheDomainExamples(t *testing.T) {
	r := Default()
	for _, tc := range []struct {
		c    string
		want Tier
	}{
		{"0", Tier{"floating", 1}},
		{"299", Tier{"floating", 3}},
		{"99.99", Tier{"floating", 1}}, // floor(99.99*3/300) = 0
		{"100", Tier{"floating", 2}},   // floor(100*3/300) = 1: a level boundary hit exactly
		{"299.99", Tier{"floating", 3}},
		{"300", Tier{"regular", 4}},
		{"1999.99", Tier{"regular", 8}},
		{"2000", Tier{"mid", 9}},
		{"5000", Tier{"mid", 11}},
		{"9999.99", Tier{"mid", 15}},
		{"10000", Tier{"vip", 16}},
		{"55000", Tier{"vip", 23}},
		{"99999.99", Tier{"vip", 30}},
		{"100000", Tier{"project", 31}},
		{"199999.99", Tier{"project", 31}},
		{"250000", Tier{"project", 32}},
		{"1000000", Tier{"project", 40}},
		{"1000000000", Tier{"project", 40}}, // min(40, ...)
	} {
		if got := r.TierOf(d(tc.c)); got != tc.want {
			t.Errorf("c=%s: %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestTierInEffectIsTheHigherOfLastMonthAndThisMonthSoFar(t *testing.T) {
	r := Default()
	for _, tc := range []struct {
		last, this string
		want       Tier
	}{
		{"5000", "100", Tier{"mid", 11}},    // no downgrade inside the month
		{"100", "2000", Tier{"mid", 9}},     // an upgrade at once
		{"0", "0", Tier{"floating", 1}},     // a new customer
		{"10000", "10000", Tier{"vip", 16}}, // equal
	} {
		if got := r.TierInEffect(d(tc.last), d(tc.this)); got != tc.want {
			t.Errorf("last %s, this %s: %v, want %v", tc.last, tc.this, got, tc.want)
		}
	}
}

func TestMonthIsTheCalendarMonthInShanghai(t *testing.T) {
	r := Default()
	for _, tc := range []struct {
		at   time.Time
		want Month
	}{
		{time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC), "2026-02"}, // 04:00 on 1 February in Shanghai
		{time.Date(2026, 1, 31, 15, 59, 59, 0, time.UTC), "2026-01"},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai), "2026-01"},
	} {
		if got := r.MonthOf(tc.at); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.at, got, tc.want)
		}
	}
	if got := Month("2026-01").Prev(); got != "2025-12" {
		t.Errorf("the month before 2026-01 is %s", got)
	}
}

func TestMonthStartsAtMidnightInShanghai(t *testing.T) {
	r := Default()
	for _, tc := range []struct {
		m    Month
		want time.Time
	}{
		// A calendar month in Asia/Shanghai begins at 00:00 +08:00, which is
		// 16:00 UTC on the day before.
		{"2026-03", time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC)},
		{"2026-01", time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC)},
		// "earned 2026-03-15 -> expires 2027-04-01T00:00:00+08:00": the start of April.
		{"2027-04", time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai)},
	} {
		got := r.MonthStart(tc.m)
		if !got.Equal(tc.want) {
			t.Errorf("%s starts at %s, want %s", tc.m, got, tc.want)
		}
		if r.MonthOf(got) != tc.m || r.MonthOf(got.Add(-time.Microsecond)) != tc.m.Prev() {
			t.Errorf("%s starts at %s, in %s; a microsecond before is in %s", tc.m, got, r.MonthOf(got), r.MonthOf(got.Add(-time.Microsecond)))
		}
	}
}

func TestEarnMatchesTheDomainExamples(t *testing.T) {
	r := Default()
	at := time.Date(2026, 3, 5, 10, 0, 0, 0, shanghai)
	spring := Campaign{ID: "spring", From: time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai),
		Until: time.Date(2026, 3, 10, 0, 0, 0, 0, shanghai), Multiplier: d("1.5")}
	double := spring
	double.ID, double.Multiplier = "double", d("2")
	vipOnly := spring
	vipOnly.ID, vipOnly.Multiplier, vipOnly.Segments = "vip", d("3"), []string{"vip"}
	for _, tc := range []struct {
		name      string
		amount    string
		segment   string
		at        time.Time
		campaigns []Campaign
		want      Earning
	}{
		// "mid customer, shipment 123.45 CNY -> floor(148.14) = 148 points"
		{"MidTimesOnePointTwo", "123.45", "mid", at, nil, Earning{Volume: 148, Points: 148}},
		{"FloatingTimesOne", "0.99", "floating", at, nil, Earning{Volume: 0, Points: 0}},
		{"VipTimesOnePointFive", "0.67", "vip", at, nil, Earning{Volume: 1, Points: 1}}, // 1.005
		{"ProjectTimesTwo", "49.99", "project", at, nil, Earning{Volume: 99, Points: 99}},
		{"ExactProductIsNotRoundedDown", "2.5", "mid", at, nil, Earning{Volume: 3, Points: 3}},
		// The highest campaign wins; they never stack: 100 * 1.2 * 2.
		{"HighestCampaignWins", "100", "mid", at, []Campaign{spring, double}, Earning{Campaign: "double", Volume: 120, CampaignPoints: 120, Points: 240}},
		{"CampaignOfAnotherSegment", "100", "mid", at, []Campaign{vipOnly}, Earning{Volume: 120, Points: 120}},
		{"CampaignOfTheSegment", "100", "vip", at, []Campaign{spring, vipOnly}, Earning{Campaign: "vip", Volume: 150, CampaignPoints: 300, Points: 450}},
		// 10.01 * 1.2 = 12.012 -> 12; * 1.5 = 18.018 -> 18.
		{"CampaignFloorsTheWhole", "10.01", "mid", at, []Campaign{spring}, Earning{Campaign: "spring", Volume: 12, CampaignPoints: 6, Points: 18}},
		{"CampaignStartsInclusive", "100", "floating", spring.From, []Campaign{spring}, Earning{Campaign: "spring", Volume: 100, CampaignPoints: 50, Points: 150}},
		{"CampaignEndsExclusive", "100", "floating", spring.Until, []Campaign{spring}, Earning{Volume: 100, Points: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Earn(d(tc.amount), tc.segment, tc.at, tc.campaigns)
			if got.Campaign != tc.want.Campaign || got.Volume != tc.want.Volume || got.CampaignPoints != tc.want.CampaignPoints ||
				got.Points != tc.want.Points {
				t.Errorf("%+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReferralPaysOnceUpToTheMonthlyCap(t *testing.T) {
	r := Default()
	for _, tc := range []struct {
		amount  string
		decided bool
		paid    int
		status  string
		points  int64
	}{
		{"50", false, 0, "pending", 500}, // "first shipment of at least 50 CNY, R earns 500 points"
		{"49.99", false, 0, "", 0},
		{"5000", true, 0, "", 0}, // "once"
		{"50", false, 19, "pending", 500},
		{"50", false, 20, "capped", 0}, // "at most 20 ... per referrer per calendar month"
	} {
		status, points := r.Referral(d(tc.amount), tc.decided, tc.paid)
		if status != tc.status || points != tc.points {
			t.Errorf("%s, decided %v, %d paid: %q %d, want %q %d", tc.amount, tc.decided, tc.paid, status, points, tc.status, tc.points)
		}
	}
	// "pending for 14 days after the qualifying shipment"
	if got := r.PendingUntil(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 16, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("pending until %s", got)
	}
}

func TestTakeBackMatchesTheDomainExample(t *testing.T) {
	for _, tc := range []struct {
		earned           int64
		amount, refunded string
		reversed         int64
		want             int64
	}{
		// "a refund of 23.45 takes back round(28.11) = 28"
		{148, "123.45", "23.45", 0, 28},
		{148, "123.45", "123.45", 28, 120}, // the rest: all 148 in the end
		{3, "2.00", "0.50", 0, 1},          // 0.75 -> 1
		{1, "2.00", "1.00", 0, 1},          // 0.5 -> 1: a half rounds up
		{1, "2.00", "0.99", 0, 0},          // 0.495 -> 0
		{1, "2.00", "2.00", 1, 0},          // nothing left to take
		{10, "10", "5", 7, 0},              // never below zero: more was reversed than is due
		{0, "10", "10", 0, 0},
	} {
		got := TakeBack(tc.earned, d(tc.amount), d(tc.refunded), tc.reversed)
		if got != tc.want {
			t.Errorf("earned %d on %s, refunded %s, reversed %d: %d, want %d", tc.earned, tc.amount, tc.refunded, tc.reversed, got, tc.want)
		}
	}
}

func TestExpiresAtTheEndOfTheTwelfthMonthAfter(t *testing.T) {
	r := Default()
	for _, tc := range []struct{ at, want time.Time }{
		// "earned 2026-03-15 -> expires 2027-04-01T00:00:00+08:00"
		{time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai), time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai)},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, shanghai), time.Date(2028, 1, 1, 0, 0, 0, 0, shanghai)},
		// 2026-02-28T16:00Z is 1 March in Shanghai.
		{time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai)},
		{time.Date(2026, 2, 28, 15, 59, 59, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, shanghai)},
	} {
		if got := r.ExpiresAt(tc.at); !got.Equal(tc.want) {
			t.Errorf("earned %s: expires %s, want %s", tc.at, got, tc.want)
		}
	}
}

func TestRebateMatchesTheDomainExamples(t *testing.T) {
	r := Default()
	for _, tc := range []struct{ deposit, rate, rebate string }{
		{"12345.67", "0.04", "493.82"}, // 493.8268 rounded down
		{"999.99", "0", "0"},
		{"1000", "0.02", "20"},
		{"5000", "0.03", "150.00"},
		{"4999.99", "0.02", "99.99"}, // 99.9998
		{"9999.99", "0.03", "299.99"},
		{"10000", "0.04", "400"},
		{"49999.99", "0.04", "1999.99"},
		{"50000", "0.05", "2500.00"},
		{"1000.49", "0.02", "20.00"}, // 20.0098
	} {
		rate, rebate := r.Rebate(d(tc.deposit))
		if !rate.Equal(d(tc.rate)) || !rebate.Equal(d(tc.rebate)) {
			t.Errorf("deposit %s: rate %s rebate %s, want %s and %s", tc.deposit, rate, rebate, tc.rate, tc.rebate)
		}
	}
}

func TestChargeDrawsPrincipalFirstThenRebate(t *testing.T) {
	for _, tc := range []struct {
		principal, rebate, charge string
		fromPrincipal, fromRebate string
		ok                        bool
	}{
		// "principal 12,345.67, rebate 493.82, charge 12,500 -> principal 0, rebate 339.49"
		{"12345.67", "493.82", "12500", "12345.67", "154.33", true},
		{"100", "5", "40", "40", "0", true},
		{"100", "5", "105", "100", "5", true},
		{"100", "5", "105.01", "0", "0", false}, // refused whole
	} {
		p, r, ok := Charge(d(tc.principal), d(tc.rebate), d(tc.charge))
		if ok != tc.ok || !p.Equal(d(tc.fromPrincipal)) || !r.Equal(d(tc.fromRebate)) {
			t.Errorf("%s + %s, charge %s: %s from principal, %s from rebate, ok %v", tc.principal, tc.rebate, tc.charge, p, r, ok)
		}
	}
}

func TestClawbackMatchesTheDomainExamples(t *testing.T) {
	for _, tc := range []struct{ rebate, principal, w, want string }{
		// "principal 10,000, rebate 400, withdraw 2,500 -> clawback 100.00;
		// then withdraw 7,500 -> clawback 300.00"
		{"400", "10000", "2500", "100.00"},
		{"300", "7500", "7500", "300.00"},
		// "principal 5,000, rebate 150, withdraw 1,234.56 -> 37.04" (37.0368)
		{"150", "5000", "1234.56", "37.04"},
		{"0.01", "2", "1", "0.01"},         // 0.005, up
		{"0.01", "3", "1", "0.01"},         // 0.00333..., up
		{"400", "10000", "0.12", "0.01"},   // 0.0048, up: twice 0.12 claws back 0.02
		{"400", "10000", "0.24", "0.01"},   // 0.0096, up
		{"77.77", "3000", "1000", "25.93"}, // 25.9233..., up
		{"1", "300", "100", "0.34"},        // 0.333..., up
		{"10", "100", "200", "10"},         // more than the principal: at most the rebate
		{"100", "0", "10", "0"},            // no principal
	} {
		if got := Clawback(d(tc.rebate), d(tc.principal), d(tc.w)); !got.Equal(d(tc.want)) {
			t.Errorf("rebate %s, principal %s, withdraw %s: %s, want %s", tc.rebate, tc.principal, tc.w, got, tc.want)
		}
	}
}

func ExampleRules_Earn() {
	r := Default()
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, shanghai)
	// February's 5,000 makes the customer mid-tier for March.
	tier := r.TierInEffect(d("5000"), d("0"))
	e := r.Earn(d("123.45"), tier.Segment, at, nil)
	fmt.Println(tier.Segment, tier.Level, e.Points, TakeBack(e.Points, d("123.45"), d("23.45"), 0))
	// Output: mid 11 148 28
}
