package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/money"
)

// Each limit of Validate is inclusive: the value at the limit is a valid
// rule set, and the value one step past it is refused on its own field.
func TestValidateAcceptsEveryLimitValue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit_ func(*RuleSet)
	}{
		{"LargestReferralBonus", func(rs *RuleSet) { rs.Referral.Bonus = 1_000_000_000 }},
		{"NoReferralBonus", func(rs *RuleSet) { rs.Referral.Bonus = 0 }},
		{"NoReferralBonusPaidInAMonth", func(rs *RuleSet) { rs.Referral.MonthlyCap = 0 }},
		{"ReferralAvailableAtOnce", func(rs *RuleSet) { rs.Referral.PendingDays = 0 }},
		{"NoMinimumShipment", func(rs *RuleSet) { rs.Referral.MinShipment = money.Of(d("0")) }},
		{"LargestMinimumShipment", func(rs *RuleSet) { rs.Referral.MinShipment = money.Of(d("1000000000000")) }},
		{"LongestPendingWindow", func(rs *RuleSet) { rs.Referral.PendingDays, rs.ExpiryMonths = 366, 14 }},
		// A lot lives at least 28 days per month of its life (a February).
		{"PendingJustShorterThanTheShortestLot", func(rs *RuleSet) { rs.Referral.PendingDays, rs.ExpiryMonths = 27, 1 }},
		{"PendingJustShorterThanTwelveMonthLot", func(rs *RuleSet) { rs.Referral.PendingDays = 28*12 - 1 }},
		{"LargestFeedbackPoints", func(rs *RuleSet) { rs.FeedbackPoints = 1_000_000_000 }},
		{"NoFeedbackPoints", func(rs *RuleSet) { rs.FeedbackPoints = 0 }},
		{"ShortestExpiry", func(rs *RuleSet) { rs.ExpiryMonths, rs.Referral.PendingDays = 1, 14 }},
		{"LongestExpiry", func(rs *RuleSet) { rs.ExpiryMonths = 120 }},
		{"SegmentOfOneLevel", func(rs *RuleSet) { rs.Segments[1].LastLevel = 4; shiftLevelsFrom(rs, 2, -4) }},
		{"ThresholdToTheFen", func(rs *RuleSet) { rs.Segments[1].Min = money.Of(d("300.01")) }},
		{"LargestMultiplier", func(rs *RuleSet) { rs.Segments[4].Multiplier = d("100") }},
		{"LargestPointsPerCNY", func(rs *RuleSet) { rs.PointsPerCNY = d("100") }},
		{"LargestLevelStep", func(rs *RuleSet) { rs.Segments[4].LevelStep = money.Of(d("1000000000000")) }},
		{"HighestRebateRate", func(rs *RuleSet) { rs.Rebates[4].Rate = d("0.9999") }},
		{"EqualRatesOnTwoTiers", func(rs *RuleSet) { rs.Rebates[2].Rate = d("0.02") }},
		{"HighestLevel", func(rs *RuleSet) { rs.Segments[4].LastLevel = 1000 }},
		{"MultiplierToFourDecimals", func(rs *RuleSet) { rs.Segments[2].Multiplier = d("1.2345") }},
		{"PointsPerCNYToFourDecimals", func(rs *RuleSet) { rs.PointsPerCNY = d("0.0001") }},
		{"RebateRateToFourDecimals", func(rs *RuleSet) { rs.Rebates[1].Rate = d("0.0201") }},
		{"LevelStepToTheFen", func(rs *RuleSet) { rs.Segments[4].LevelStep = money.Of(d("0.01")) }},
		{"MinimumShipmentToTheFen", func(rs *RuleSet) { rs.Referral.MinShipment = money.Of(d("49.99")) }},
		{"LargestMonthlyCap", func(rs *RuleSet) { rs.Referral.MonthlyCap = 1000 }},
		{"LargestRebateThreshold", func(rs *RuleSet) { rs.Rebates[4].Min = money.Of(d("1000000000000")) }},
		{"RebateThresholdToTheFen", func(rs *RuleSet) { rs.Rebates[1].Min = money.Of(d("999.99")) }},
		{"ShortestBackdatingWindow", func(rs *RuleSet) { rs.BackdatingDays = 1 }},
		{"LongestBackdatingWindow", func(rs *RuleSet) { rs.BackdatingDays = 366 }},
		{"MostSegments", func(rs *RuleSet) { rs.Segments = segments(20) }},
		{"MostRebateTiers", func(rs *RuleSet) { rs.Rebates = rebateTiers(20) }},
		{"LongestSegmentCode", func(rs *RuleSet) { rs.Segments[0].Code = strings.Repeat("f", 32) }},
		{"LongestTimezone", func(rs *RuleSet) { rs.Timezone = "America/Argentina/ComodRivadavia" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Default()
			tc.edit_(&rs)
			if err := rs.Validate(); err != nil {
				t.Errorf("Validate = %v, want a valid rule set", err)
			}
		})
	}
}

func TestValidateRefusesOneStepPastEveryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit_ func(*RuleSet)
		field string
	}{
		{"ReferralBonusTooLarge", func(rs *RuleSet) { rs.Referral.Bonus = 1_000_000_001 }, "referral"},
		{"NegativeReferralBonus", func(rs *RuleSet) { rs.Referral.Bonus = -1 }, "referral"},
		{"NegativeMonthlyCap", func(rs *RuleSet) { rs.Referral.MonthlyCap = -1 }, "referral"},
		{"NegativePendingDays", func(rs *RuleSet) { rs.Referral.PendingDays = -1 }, "referral"},
		{"NegativeMinimumShipment", func(rs *RuleSet) { rs.Referral.MinShipment = money.Of(d("-0.01")) }, "referral"},
		{"MinimumShipmentTooLarge", func(rs *RuleSet) { rs.Referral.MinShipment = money.Of(d("1000000000000.01")) }, "referral"},
		{"PendingWindowTooLong", func(rs *RuleSet) { rs.Referral.PendingDays, rs.ExpiryMonths = 367, 14 }, "referral"},
		{"PendingAsLongAsTheShortestLot", func(rs *RuleSet) { rs.Referral.PendingDays, rs.ExpiryMonths = 28, 1 }, "referral.pending_days"},
		{"PendingAsLongAsTwelveMonthLot", func(rs *RuleSet) { rs.Referral.PendingDays = 28 * 12 }, "referral.pending_days"},
		{"FeedbackPointsTooLarge", func(rs *RuleSet) { rs.FeedbackPoints = 1_000_000_001 }, "referral"},
		{"NegativeFeedbackPoints", func(rs *RuleSet) { rs.FeedbackPoints = -1 }, "feedback_points"},
		{"ExpiryTooLong", func(rs *RuleSet) { rs.ExpiryMonths = 121 }, "referral"},
		{"NegativeExpiry", func(rs *RuleSet) { rs.ExpiryMonths = -1 }, "expiry_months"},
		{"SegmentWithNoLevel", func(rs *RuleSet) { rs.Segments[1].LastLevel = 3; shiftLevelsFrom(rs, 2, -5) }, "segments[1].last_level"},
		{"LevelZero", func(rs *RuleSet) { rs.Segments[0].FirstLevel = 0 }, "segments[0].last_level"},
		{"ThresholdFinerThanAFen", func(rs *RuleSet) { rs.Segments[1].Min = money.Of(d("300.001")) }, "segments[1].min"},
		{"ThresholdTooLarge", func(rs *RuleSet) { rs.Segments[4].Min = money.Of(d("1000000000000.01")) }, "segments[4].min"},
		{"LevelStepTooLarge", func(rs *RuleSet) { rs.Segments[4].LevelStep = money.Of(d("1000000000000.01")) }, "segments[4].min"},
		{"NegativeLevelStep", func(rs *RuleSet) { rs.Segments[3].LevelStep = money.Of(d("-1")) }, "segments[3].min"},
		{"LevelStepOnAClosedSegment", func(rs *RuleSet) { rs.Segments[3].LevelStep = money.Of(d("1000")) }, "segments[3].level_step"},
		{"MultiplierTooLarge", func(rs *RuleSet) { rs.Segments[4].Multiplier = d("100.01") }, "segments[4].multiplier"},
		{"NoPointsPerCNY", func(rs *RuleSet) { rs.PointsPerCNY = d("0") }, "points_per_cny"},
		{"PointsPerCNYTooLarge", func(rs *RuleSet) { rs.PointsPerCNY = d("100.01") }, "points_per_cny"},
		{"RebateRateOfOne", func(rs *RuleSet) { rs.Rebates[4].Rate = d("1") }, "rebates[4].rate"},
		{"NegativeRebateRate", func(rs *RuleSet) { rs.Rebates[0].Rate = d("-0.01") }, "rebates[0].rate"},
		{"FirstRebateTierAboveZero", func(rs *RuleSet) { rs.Rebates[0].Min = money.Of(d("0.01")) }, "rebates[0].min"},
		{"NoRebateTiers", func(rs *RuleSet) { rs.Rebates = nil }, "rebates"},
		{"NoSegments", func(rs *RuleSet) { rs.Segments = nil }, "segments"},
		{"SegmentWithoutCode", func(rs *RuleSet) { rs.Segments[2].Code = "" }, "segments[2].code"},
		{"NoTimezone", func(rs *RuleSet) { rs.Timezone = "" }, "timezone"},
		{"LevelPastTheHighest", func(rs *RuleSet) { rs.Segments[4].LastLevel = 1001 }, "segments[4].last_level"},
		{"LevelOf2To31", func(rs *RuleSet) { rs.Segments[4].LastLevel = 1 << 31 }, "segments[4].last_level"},
		{"MultiplierToFiveDecimals", func(rs *RuleSet) { rs.Segments[2].Multiplier = d("1.23451") }, "segments[2].multiplier"},
		{"MultiplierOfThousandsOfDigits", func(rs *RuleSet) { rs.Segments[2].Multiplier = d("1." + strings.Repeat("3", 5000)) }, "segments[2].multiplier"},
		{"PointsPerCNYToFiveDecimals", func(rs *RuleSet) { rs.PointsPerCNY = d("0.00001") }, "points_per_cny"},
		{"RebateRateToFiveDecimals", func(rs *RuleSet) { rs.Rebates[1].Rate = d("0.02001") }, "rebates[1].rate"},
		{"LevelStepFinerThanAFen", func(rs *RuleSet) { rs.Segments[4].LevelStep = money.Of(d("0.001")) }, "segments[4].level_step"},
		{"MinimumShipmentFinerThanAFen", func(rs *RuleSet) { rs.Referral.MinShipment = money.Of(d("49.999")) }, "referral.min_shipment"},
		{"MonthlyCapTooLarge", func(rs *RuleSet) { rs.Referral.MonthlyCap = 1001 }, "referral.monthly_cap"},
		{"RebateThresholdTooLarge", func(rs *RuleSet) { rs.Rebates[4].Min = money.Of(d("1000000000000.01")) }, "rebates[4].min"},
		{"RebateThresholdFinerThanAFen", func(rs *RuleSet) { rs.Rebates[1].Min = money.Of(d("999.999")) }, "rebates[1].min"},
		{"NoBackdatingWindow", func(rs *RuleSet) { rs.BackdatingDays = 0 }, "backdating_days"},
		{"BackdatingWindowTooLong", func(rs *RuleSet) { rs.BackdatingDays = 367 }, "backdating_days"},
		{"TooManySegments", func(rs *RuleSet) { rs.Segments = segments(21) }, "segments"},
		{"TooManyRebateTiers", func(rs *RuleSet) { rs.Rebates = rebateTiers(21) }, "rebates"},
		{"SegmentCodeTooLong", func(rs *RuleSet) { rs.Segments[0].Code = strings.Repeat("f", 33) }, "segments[0].code"},
		{"SegmentCodeWithASpace", func(rs *RuleSet) { rs.Segments[0].Code = "flo ating" }, "segments[0].code"},
		{"TimezoneTooLong", func(rs *RuleSet) { rs.Timezone = strings.Repeat("A/", 32) + "B" }, "timezone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Default()
			tc.edit_(&rs)
			ve, ok := rs.Validate().(*ValidationError)
			if !ok {
				t.Fatalf("Validate accepted the rule set, want %s refused", tc.field)
			}
			if _, ok := ve.Fields[tc.field]; !ok {
				t.Errorf("fields %v, want %s", ve.Fields, tc.field)
			}
		})
	}
}

// segments is n consistent segments of one level each, 1,000 CNY apart,
// its level step 1,000 CNY.
func segments(n int) []Segment {
	out := make([]Segment, n)
	for i := range out {
		out[i] = Segment{Code: fmt.Sprintf("s%d", i), Min: money.Of(decimal.NewFromInt(int64(i) * 1000)), FirstLevel: i + 1, LastLevel: i + 1,
			Multiplier: d("1")}
	}
	out[n-1].LevelStep = money.Of(d("1000"))
	return out
}

// rebateTiers is n consistent rebate tiers, from 0 in steps of 1,000 CNY.
func rebateTiers(n int) []RebateTier {
	out := make([]RebateTier, n)
	for i := range out {
		out[i] = RebateTier{Min: money.Of(decimal.NewFromInt(int64(i) * 1000)), Rate: decimal.New(int64(i), -3)}
	}
	return out
}

// shiftLevelsFrom moves the levels of segments[from:] by delta, so that
// they still follow on after an edit of the segment before them.
func shiftLevelsFrom(rs *RuleSet, from, delta int) {
	for i := from; i < len(rs.Segments); i++ {
		rs.Segments[i].FirstLevel += delta
		rs.Segments[i].LastLevel += delta
	}
}

// The refusal says which level would follow on, so an operator can fix the
// document from the message alone.
func TestValidateNamesTheLevelThatWouldFollowOn(t *testing.T) {
	rs := Default()
	rs.Segments[2].FirstLevel = 10 // regular ends at level 8
	ve, ok := rs.Validate().(*ValidationError)
	if !ok {
		t.Fatal("Validate accepted levels 8 then 10")
	}
	if got := ve.Fields["segments[2].first_level"]; !strings.HasSuffix(got, "want 9") {
		t.Errorf("segments[2].first_level: %q, want it to ask for level 9", got)
	}
}

func TestParse(t *testing.T) {
	t.Run("ReadsWhatDefaultWrites", func(t *testing.T) {
		doc, err := json.Marshal(Default())
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Parse(doc)
		if err != nil {
			t.Fatalf("Parse = %v", err)
		}
		// DOMAIN.md's examples, through the parsed rule set.
		if got := rs.TierOf(d("55000")); got != (Tier{"vip", 23}) {
			t.Errorf("c=55000: %+v, want vip L23", got)
		}
		if _, rebate := rs.Rebate(d("12345.67")); !rebate.Equal(d("493.82")) {
			t.Errorf("rebate of 12345.67 = %s, want 493.82", rebate)
		}
		earned := time.Date(2026, 3, 15, 10, 0, 0, 0, shanghai)
		if got, want := rs.ExpiresAt(earned), time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai); !got.Equal(want) {
			t.Errorf("earned %s expires %s, want %s", earned, got, want)
		}
	})
	// A version stored before rule sets had a back-dating window has the
	// default one, which DOMAIN.md sets at 60 days.
	t.Run("WithoutBackdatingDaysHasSixtyDays", func(t *testing.T) {
		doc, _ := json.Marshal(Default())
		doc = []byte(strings.Replace(string(doc), `,"backdating_days":60`, ``, 1))
		if strings.Contains(string(doc), "backdating_days") {
			t.Fatalf("the document still sets backdating_days: %s", doc)
		}
		rs, err := Parse(doc)
		if err != nil {
			t.Fatalf("Parse = %v", err)
		}
		if rs.BackdatingDays != 60 {
			t.Errorf("backdating_days %d, want 60", rs.BackdatingDays)
		}
	})
	t.Run("NotJSON", func(t *testing.T) {
		_, err := Parse([]byte(`{"version": 2,`))
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Fatalf("Parse = %v, want a ValidationError", err)
		}
		if _, ok := ve.Fields[""]; !ok || len(ve.Fields) != 1 {
			t.Errorf("fields %v, want the document itself named", ve.Fields)
		}
	})
	t.Run("Inconsistent", func(t *testing.T) {
		doc, _ := json.Marshal(Default())
		doc = []byte(strings.Replace(string(doc), `"expiry_months":12`, `"expiry_months":0`, 1))
		_, err := Parse(doc)
		ve, ok := err.(*ValidationError)
		if !ok {
			t.Fatalf("Parse = %v, want a ValidationError", err)
		}
		if _, ok := ve.Fields["expiry_months"]; !ok {
			t.Errorf("fields %v, want expiry_months", ve.Fields)
		}
	})
}
