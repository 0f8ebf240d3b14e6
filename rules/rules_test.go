package rules

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/money"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func TestTierOfDomainExamples(t *testing.T) {
	rs := Default()
	for _, tc := range []struct {
		c       string
		segment string
		level   int
	}{
		{"0", "floating", 1},
		{"299", "floating", 3},
		{"299.99", "floating", 3},
		{"300", "regular", 4}, // a threshold hit exactly
		{"1999.99", "regular", 8},
		{"2000", "mid", 9},
		{"5000", "mid", 11},
		{"9999.99", "mid", 15},
		{"10000", "vip", 16},
		{"55000", "vip", 23},
		{"99999.99", "vip", 30},
		{"100000", "project", 31},
		{"250000", "project", 32},
		{"1000000", "project", 40},
		{"99000000", "project", 40}, // capped at the last level
	} {
		got := rs.TierOf(d(tc.c))
		if got.Segment != tc.segment || got.Level != tc.level {
			t.Errorf("c=%s: %s L%d, want %s L%d", tc.c, got.Segment, got.Level, tc.segment, tc.level)
		}
	}
}

func TestTierInEffectIsTheHigherOfLastAndThisMonth(t *testing.T) {
	rs := Default()
	for _, tc := range []struct {
		name       string
		last, this string
		level      int
		basis      Basis
	}{
		{"LastMonthHolds", "5000", "100", 11, BasisLastMonth},
		{"UpgradeAtOnce", "100", "2000", 9, BasisThisMonth},
		{"EqualKeepsLast", "2000", "2000", 9, BasisLastMonth},
		{"NewCustomer", "0", "0", 1, BasisLastMonth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, basis := rs.TierInEffect(d(tc.last), d(tc.this))
			if got.Level != tc.level || basis != tc.basis {
				t.Errorf("L%d (%s), want L%d (%s)", got.Level, basis, tc.level, tc.basis)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	rs := Default()
	for _, tc := range []struct {
		name                 string
		tier                 Tier
		this                 string
		nextLevel            int
		levelNeeded          string
		nextSegment          string
		segmentNeeded        string
		topOfTheLadder       bool
		segmentLevelExpected int
	}{
		// mid [2000, 10000) over 7 levels: level 10 from 2000 + 8000/7 = 3142.857... -> 3142.86.
		{name: "MidToNextLevel", tier: Tier{"mid", 9}, this: "2000", nextLevel: 10, levelNeeded: "1142.86",
			nextSegment: "vip", segmentNeeded: "8000"},
		{name: "FloatingFromZero", tier: Tier{"floating", 1}, this: "0", nextLevel: 2, levelNeeded: "100",
			nextSegment: "regular", segmentNeeded: "300"},
		// The tier came from last month: this month's contribution counts from where it is.
		{name: "TierFromLastMonth", tier: Tier{"vip", 16}, this: "500", nextLevel: 17, levelNeeded: "15500", // vip: 90000/15 = 6000 a level
			nextSegment: "project", segmentNeeded: "99500"},
		{name: "ProjectSteps", tier: Tier{"project", 32}, this: "250000", nextLevel: 33, levelNeeded: "50000"},
		{name: "Top", tier: Tier{"project", 40}, this: "2000000", topOfTheLadder: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lvl, seg := rs.Progress(tc.tier, d(tc.this))
			if tc.topOfTheLadder {
				if lvl != nil || seg != nil {
					t.Errorf("at the top: next level %v, next segment %v, want none", lvl, seg)
				}
				return
			}
			if lvl == nil || lvl.Level != tc.nextLevel || !lvl.Needed.Equal(d(tc.levelNeeded)) {
				t.Errorf("next level %+v, want L%d needing %s", lvl, tc.nextLevel, tc.levelNeeded)
			}
			if tc.nextSegment == "" {
				if seg != nil {
					t.Errorf("next segment %+v, want none", seg)
				}
				return
			}
			if seg == nil || seg.Segment != tc.nextSegment || !seg.Needed.Equal(d(tc.segmentNeeded)) {
				t.Errorf("next segment %+v, want %s needing %s", seg, tc.nextSegment, tc.segmentNeeded)
			}
		})
	}
	// The thresholds Progress reports are exact: one fen less stays below.
	for level := 2; level <= 40; level++ {
		at, _ := rs.threshold(level)
		if got := rs.TierOf(at).Level; got != level {
			t.Errorf("threshold of L%d is %s, which is L%d", level, at, got)
		}
		if got := rs.TierOf(at.Sub(d("0.01"))).Level; got != level-1 {
			t.Errorf("a fen below the threshold of L%d (%s) is L%d, want L%d", level, at, got, level-1)
		}
	}
}

func TestMonthsAreShanghaiMonths(t *testing.T) {
	rs := Default()
	for _, tc := range []struct {
		at   string
		want Month
	}{
		{"2026-01-31T20:00:00Z", "2026-02"}, // 04:00 on 1 February in Shanghai
		{"2026-01-31T15:59:59Z", "2026-01"},
		{"2026-01-31T16:00:00Z", "2026-02"},
		{"2026-12-31T16:00:00Z", "2027-01"},
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := rs.MonthOf(at); got != tc.want {
			t.Errorf("month of %s = %s, want %s", tc.at, got, tc.want)
		}
	}
	if got := Month("2026-01").Prev(); got != "2025-12" {
		t.Errorf("month before 2026-01 = %s", got)
	}
	if got := Month("2026-02").Start(shanghai); !got.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, shanghai)) {
		t.Errorf("start of 2026-02 = %s", got)
	}
}

func TestEarnShipment(t *testing.T) {
	rs := Default()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai)
	mid := Tier{"mid", 9}
	double := Campaign{ID: "double", StartsAt: at.Add(-time.Hour), EndsAt: at.Add(time.Hour), Multiplier: d("2")}
	for _, tc := range []struct {
		name      string
		amount    string
		tier      Tier
		campaigns []Campaign
		points    int64
		volume    int64
		campaign  string
	}{
		{name: "MidCustomerDomainExample", amount: "123.45", tier: mid, points: 148, volume: 148},
		{name: "Floating", amount: "99.99", tier: Tier{"floating", 1}, points: 99, volume: 99},
		{name: "VIP", amount: "100", tier: Tier{"vip", 16}, points: 150, volume: 150},
		{name: "Project", amount: "10.50", tier: Tier{"project", 31}, points: 21, volume: 21},
		{name: "CampaignDoubles", amount: "123.45", tier: mid, campaigns: []Campaign{double},
			points: 296, volume: 148, campaign: "double"}, // floor(296.28)
		{name: "HighestCampaignWinsNoStacking", amount: "100", tier: mid, campaigns: []Campaign{
			{ID: "small", StartsAt: double.StartsAt, EndsAt: double.EndsAt, Multiplier: d("1.5")}, double,
			{ID: "smaller", StartsAt: double.StartsAt, EndsAt: double.EndsAt, Multiplier: d("1.1")}},
			points: 240, volume: 120, campaign: "double"},
		{name: "CampaignForOtherSegments", amount: "100", tier: mid, campaigns: []Campaign{
			{ID: "vip-only", StartsAt: double.StartsAt, EndsAt: double.EndsAt, Multiplier: d("3"), Segments: []string{"vip"}}},
			points: 120, volume: 120},
		{name: "CampaignForThisSegment", amount: "100", tier: mid, campaigns: []Campaign{
			{ID: "mid-only", StartsAt: double.StartsAt, EndsAt: double.EndsAt, Multiplier: d("1.25"), Segments: []string{"vip", "mid"}}},
			points: 150, volume: 120, campaign: "mid-only"},
		{name: "CampaignEndedExactlyNow", amount: "100", tier: mid, campaigns: []Campaign{
			{ID: "over", StartsAt: at.Add(-time.Hour), EndsAt: at, Multiplier: d("2")}},
			points: 120, volume: 120},
		{name: "CampaignStartsExactlyNow", amount: "100", tier: mid, campaigns: []Campaign{
			{ID: "new", StartsAt: at, EndsAt: at.Add(time.Hour), Multiplier: d("2")}},
			points: 240, volume: 120, campaign: "new"},
		{name: "UnderOnePoint", amount: "0.83", tier: mid, points: 0, volume: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := rs.EarnShipment(d(tc.amount), tc.tier, at, tc.campaigns)
			if e.Points != tc.points || e.Volume != tc.volume || e.CampaignPoints != tc.points-tc.volume {
				t.Errorf("points %d (volume %d + campaign %d), want %d (volume %d)", e.Points, e.Volume, e.CampaignPoints, tc.points, tc.volume)
			}
			got := ""
			if e.Campaign != nil {
				got = *e.Campaign
			}
			if got != tc.campaign {
				t.Errorf("campaign %q, want %q", got, tc.campaign)
			}
		})
	}
}

func TestReferral(t *testing.T) {
	rs := Default()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai)
	for _, tc := range []struct {
		name    string
		amount  string
		st      ReferralState
		outcome ReferralOutcome
		points  int64
	}{
		{"FirstQualifyingShipment", "50", ReferralState{HasReferrer: true}, ReferralPending, 500},
		{"TooSmall", "49.99", ReferralState{HasReferrer: true}, ReferralNone, 0},
		{"NoReferrer", "500", ReferralState{}, ReferralNone, 0},
		{"OnlyOnce", "500", ReferralState{HasReferrer: true, AlreadyQualified: true}, ReferralNone, 0},
		{"UnderTheCap", "500", ReferralState{HasReferrer: true, PaidThisMonth: 19}, ReferralPending, 500},
		{"CapReached", "500", ReferralState{HasReferrer: true, PaidThisMonth: 20}, ReferralCapped, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outcome, points, availableAt := rs.ReferralFor(d(tc.amount), at, tc.st)
			if outcome != tc.outcome || points != tc.points {
				t.Errorf("%q %d, want %q %d", outcome, points, tc.outcome, tc.points)
			}
			if outcome != ReferralNone && !availableAt.Equal(at.AddDate(0, 0, 14)) {
				t.Errorf("available at %s, want 14 days after the shipment", availableAt)
			}
		})
	}
}

func TestTakeBack(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		earned                   int64
		amount, before, refunded string
		reversed                 int64
		want                     int64
	}{
		{"DomainExample", 148, "123.45", "0", "23.45", 0, 28}, // round(28.11)
		{"FullRefund", 148, "123.45", "0", "123.45", 0, 148},
		{"HalfRoundsUp", 1, "2.00", "0", "1.00", 0, 1}, // 0.5 -> 1
		{"JustUnderHalf", 1, "2.00", "0", "0.99", 0, 0},
		{"SecondPartialCountsCumulatively", 148, "123.45", "23.45", "100", 28, 120},
		{"NeverMoreThanUnreversed", 10, "100", "0", "100", 10, 0},
		{"NothingEarned", 0, "100", "0", "50", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TakeBack(tc.earned, d(tc.amount), d(tc.before), d(tc.refunded), tc.reversed); got != tc.want {
				t.Errorf("take back %d, want %d", got, tc.want)
			}
		})
	}
	// Refunding a shipment in many small parts takes back exactly what one
	// full refund would.
	var taken int64
	refunded := decimal.Zero
	for range 13 {
		part := d("9.50")
		taken += TakeBack(148, d("123.50"), refunded, part, taken)
		refunded = refunded.Add(part)
	}
	if taken != 148 {
		t.Errorf("13 partial refunds took back %d, want 148", taken)
	}
}

func TestExpiresAt(t *testing.T) {
	rs := Default()
	for _, tc := range []struct{ earned, want string }{
		{"2026-03-15T10:00:00+08:00", "2027-04-01T00:00:00+08:00"}, // docs/RULES.md
		{"2026-01-31T20:00:00Z", "2027-03-01T00:00:00+08:00"},      // February in Shanghai
		{"2026-12-31T23:59:59+08:00", "2028-01-01T00:00:00+08:00"},
	} {
		earned, _ := time.Parse(time.RFC3339, tc.earned)
		want, _ := time.Parse(time.RFC3339, tc.want)
		if got := rs.ExpiresAt(earned); !got.Equal(want) {
			t.Errorf("earned %s expires %s, want %s", tc.earned, got, tc.want)
		}
	}
}

func TestRebate(t *testing.T) {
	rs := Default()
	for _, tc := range []struct{ deposit, rate, rebate string }{
		{"12345.67", "0.04", "493.82"}, // 493.8268 rounded down
		{"999.99", "0", "0"},
		{"1000", "0.02", "20"},
		{"5000", "0.03", "150.00"},
		{"9999.99", "0.03", "299.99"}, // 299.9997
		{"50000", "0.05", "2500.00"},
	} {
		rate, rebate := rs.Rebate(d(tc.deposit))
		if !rate.Equal(d(tc.rate)) || !rebate.Equal(d(tc.rebate)) {
			t.Errorf("deposit %s: rate %s rebate %s, want %s %s", tc.deposit, rate, rebate, tc.rate, tc.rebate)
		}
	}
}

func TestClawback(t *testing.T) {
	// What is left, rebate * (principal - w) / principal, is rounded down to
	// the fen; the clawback is the rest of the rebate.
	for _, tc := range []struct{ rebate, principal, w, want string }{
		{"400", "10000", "2500", "100.00"},  // leaves 300 exactly
		{"300", "7500", "7500", "300.00"},   // then the rest: all of it
		{"150", "5000", "1234.56", "37.04"}, // leaves 112.9632 -> 112.96
		{"77.77", "3000", "1000", "25.93"},  // leaves 51.8466... -> 51.84
		{"0.01", "3", "1.5", "0.01"},        // leaves 0.005 -> 0.00
		{"400", "10000", "0.12", "0.01"},    // leaves 399.9952 -> 399.99
		{"400", "10000", "0.24", "0.01"},    // leaves 399.9904 -> 399.99
		{"1", "300", "100", "0.34"},         // leaves 0.666... -> 0.66
		{"1", "300", "1", "0.01"},           // leaves 0.99666... -> 0.99
		{"400", "10000", "9999.99", "400"},  // leaves 0.0004 -> 0.00
		{"10", "100", "200", "10"},          // more than the principal: all the rebate
		{"0", "100", "50", "0"},             // no rebate
		{"10", "0", "50", "0"},              // no principal
	} {
		if got := Clawback(d(tc.rebate), d(tc.principal), d(tc.w)); !got.Equal(d(tc.want)) {
			t.Errorf("rebate %s principal %s withdraw %s: clawback %s, want %s", tc.rebate, tc.principal, tc.w, got, tc.want)
		}
	}
}

func TestValidateRefusesInconsistentRuleSets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(*RuleSet)
		field  string
	}{
		{"OverlappingThresholds", func(rs *RuleSet) { rs.Segments[2].Min = money.Of(d("300")) }, "segments[2].min"},
		{"LevelsDoNotFollowOn", func(rs *RuleSet) { rs.Segments[1].FirstLevel = 5 }, "segments[1].first_level"},
		{"FirstSegmentAboveZero", func(rs *RuleSet) { rs.Segments[0].Min = money.Of(d("1")) }, "segments[0].min"},
		{"OpenEndedWithoutStep", func(rs *RuleSet) { rs.Segments[4].LevelStep = money.Of(decimal.Zero) }, "segments[4].level_step"},
		{"ZeroMultiplier", func(rs *RuleSet) { rs.Segments[0].Multiplier = decimal.Zero }, "segments[0].multiplier"},
		{"DuplicateSegment", func(rs *RuleSet) { rs.Segments[1].Code = "floating" }, "segments[1].code"},
		{"UnknownZone", func(rs *RuleSet) { rs.Timezone = "Mars/Olympus" }, "timezone"},
		// Names Go loads that are not zones of the database: the host's own
		// zone, and tzdata's files that are not zones (found by review).
		{"TheHostsZone", func(rs *RuleSet) { rs.Timezone = "Local" }, "timezone"},
		{"Factory", func(rs *RuleSet) { rs.Timezone = "Factory" }, "timezone"},
		{"PosixRules", func(rs *RuleSet) { rs.Timezone = "posixrules" }, "timezone"},
		{"PosixCopy", func(rs *RuleSet) { rs.Timezone = "posix/Asia/Shanghai" }, "timezone"},
		// Other spellings of the same files: LoadLocation takes the name as a
		// path (found by review).
		{"TheHostsZoneAsAPath", func(rs *RuleSet) { rs.Timezone = "./localtime" }, "timezone"},
		{"FactoryAsAPath", func(rs *RuleSet) { rs.Timezone = "./Factory" }, "timezone"},
		{"PosixCopyAsAPath", func(rs *RuleSet) { rs.Timezone = "./posix/Asia/Shanghai" }, "timezone"},
		{"DoubleSlash", func(rs *RuleSet) { rs.Timezone = "Asia//Shanghai" }, "timezone"},
		{"DotSegment", func(rs *RuleSet) { rs.Timezone = "Asia/./Shanghai" }, "timezone"},
		{"RebateFalls", func(rs *RuleSet) { rs.Rebates[3].Rate = d("0.01") }, "rebates[3].rate"},
		{"RebateOverlaps", func(rs *RuleSet) { rs.Rebates[2].Min = money.Of(d("1000")) }, "rebates[2].min"},
		{"NoExpiry", func(rs *RuleSet) { rs.ExpiryMonths = 0 }, "expiry_months"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Default()
			tc.break_(&rs)
			err := rs.ValidateNew()
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("Validate = %v, want a ValidationError", err)
			}
			if _, ok := ve.Fields[tc.field]; !ok {
				t.Errorf("fields %v, want %s", ve.Fields, tc.field)
			}
		})
	}
}

// Month.Prev by arithmetic is what time's parse and format give, for every
// month of years 0000 to 9999 and for strings that are not months.
func TestMonthPrevIsTimesPreviousMonth(t *testing.T) {
	slow := func(m Month) Month {
		tm, _ := time.Parse("2006-01", string(m))
		return Month(tm.AddDate(0, -1, 0).Format("2006-01"))
	}
	var months []Month
	for y := 0; y <= 9999; y += 1 + y%7 {
		for mo := 0; mo <= 13; mo++ {
			months = append(months, Month(fmt.Sprintf("%04d-%02d", y, mo)))
		}
	}
	months = append(months, "2026-1", "2026-010", "2026/01", "abcd-ef", "", "20a6-01", "9999-12", "0000-01", "0001-01")
	for _, m := range months {
		if got, want := m.Prev(), slow(m); got != want {
			t.Errorf("Month(%q).Prev() = %q, time gives %q", m, got, want)
		}
	}
}

// A version stored before zones were held to the database's names (one in
// the host's own zone) still loads: ValidateNew refuses it, Parse does not.
func TestAStoredVersionInTheHostsZoneStillLoads(t *testing.T) {
	rs := Default()
	rs.Timezone = "Local"
	doc, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(doc); err != nil {
		t.Errorf("Parse of a stored version in Local: %v", err)
	}
	if err := rs.ValidateNew(); err == nil {
		t.Errorf("ValidateNew accepted Local")
	}
}

// MonthOf's table of names is what time's layout gives, at the first and
// last instants of every month it holds and beyond its ends, in zones east
// and west of UTC.
func TestMonthOfIsTimesMonth(t *testing.T) {
	for _, zone := range []string{"Asia/Shanghai", "UTC", "America/Los_Angeles", "Pacific/Kiritimati"} {
		rs := Default()
		rs.Timezone, rs.loc = zone, nil
		loc := rs.Location()
		if loc.String() != zone {
			t.Fatalf("zone %s loaded as %s", zone, loc)
		}
		for y := 1890; y <= 2210; y++ {
			for mo := time.January; mo <= time.December; mo++ {
				first := time.Date(y, mo, 1, 0, 0, 0, 0, loc)
				for _, at := range []time.Time{first, first.Add(-time.Nanosecond), first.Add(36 * time.Hour)} {
					if got, want := rs.MonthOf(at.UTC()), Month(at.In(loc).Format("2006-01")); got != want {
						t.Fatalf("%s: MonthOf(%s) = %q, time gives %q", zone, at.UTC(), got, want)
					}
				}
			}
		}
	}
}

// BenchmarkMonthOf is the month of a shipment, as a group prices one per
// event.
func BenchmarkMonthOf(b *testing.B) {
	rs := Default()
	at := time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC)
	for i := 0; b.Loop(); i++ {
		_ = rs.MonthOf(at.Add(time.Duration(i) * time.Second))
	}
}
