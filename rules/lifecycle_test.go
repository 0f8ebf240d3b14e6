package rules

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
)

// history is a customer's contributions by month, written as "2026-04": "1000".
func history(months map[Month]string) map[Month]decimal.Decimal {
	out := map[Month]decimal.Decimal{}
	for m, c := range months {
		out[m] = decimal.RequireFromString(c)
	}
	return out
}

// TestStageOfWorkedExamples: the stage of a customer at the end of June
// 2026 under the default thresholds (new for 3 months, lapsed after 2
// empty months, June against the average of April and May, ±20%), each
// example on one side of a boundary of DOMAIN.md's lifecycle as
// docs/RULES.md sets it out.
func TestStageOfWorkedExamples(t *testing.T) {
	lc := Default().Lifecycle
	const june = Month("2026-06")
	for _, tc := range []struct {
		name   string
		first  Month
		months map[Month]string
		stage  string
		change string // "" for none
	}{
		{"ProspectNeverContributed", "", nil, StageProspect, ""},
		{"ProspectFirstContributesAfterTheMonth", "2026-07", map[Month]string{"2026-07": "100"}, StageProspect, ""},
		{"NewFirstThisMonth", "2026-06", map[Month]string{"2026-06": "50"}, StageNew, ""},
		// New lasts 3 months including the first: April, May, June.
		{"NewFirstTwoMonthsAgo", "2026-04", map[Month]string{"2026-04": "100", "2026-06": "10"}, StageNew, "-80.00"},
		{"NotNewFirstThreeMonthsAgo", "2026-03", map[Month]string{"2026-03": "100", "2026-04": "100", "2026-05": "100", "2026-06": "100"}, StageSteady, "0.00"},
		// Lapsed: nothing in May and June; it outranks new.
		{"LapsedTwoEmptyMonths", "2025-01", map[Month]string{"2026-04": "5000"}, StageLapsed, "-100.00"},
		{"LapsedNewCustomerWhoStopped", "2026-04", map[Month]string{"2026-04": "100"}, StageLapsed, "-100.00"},
		{"LapsedRefundedToZero", "2025-01", map[Month]string{"2026-04": "5000", "2026-05": "0", "2026-06": "0"}, StageLapsed, "-100.00"},
		{"NotLapsedAFenInMay", "2025-01", map[Month]string{"2026-04": "5000", "2026-05": "0.01"}, StageDeclining, "-100.00"},
		// Declining to nothing: June empty, May not.
		{"DecliningToNothing", "2025-01", map[Month]string{"2026-04": "1000", "2026-05": "1000"}, StageDeclining, "-100.00"},
		// Average of April and May 1,000: June 1,200.00 is +20%, not beyond.
		{"SteadyAtPlusTwentyPercent", "2025-01", map[Month]string{"2026-04": "1000", "2026-05": "1000", "2026-06": "1200"}, StageSteady, "20.00"},
		{"GrowingAFenBeyond", "2025-01", map[Month]string{"2026-04": "1000", "2026-05": "1000", "2026-06": "1200.01"}, StageGrowing, "20.00"},
		{"SteadyAtMinusTwentyPercent", "2025-01", map[Month]string{"2026-04": "1000", "2026-05": "1000", "2026-06": "800"}, StageSteady, "-20.00"},
		{"DecliningAFenBeyond", "2025-01", map[Month]string{"2026-04": "1000", "2026-05": "1000", "2026-06": "799.99"}, StageDeclining, "-20.00"},
		// A mid-tier shop: 5,000, 5,500, then 7,000: avg 5,250, +33.33%.
		{"GrowingMidTier", "2025-01", map[Month]string{"2026-04": "5000", "2026-05": "5500", "2026-06": "7000"}, StageGrowing, "33.33"},
		// 1,000 then 2,000 (avg 1,500), June 1,800: +20.00%, steady.
		{"SteadyAgainstTheAverage", "2025-01", map[Month]string{"2026-04": "1000", "2026-05": "2000", "2026-06": "1800"}, StageSteady, "20.00"},
		// Back after an empty April and May (lapsed then): growing.
		{"GrowingBackFromLapsed", "2025-01", map[Month]string{"2026-03": "900", "2026-06": "10"}, StageGrowing, ""},
		// Only months up to June count.
		{"LaterMonthsDoNotCount", "2025-01", map[Month]string{"2026-04": "1000", "2026-05": "1000", "2026-06": "1000", "2026-07": "99999"}, StageSteady, "0.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := lc.StageOf(june, tc.first, history(tc.months))
			if st.Stage != tc.stage || st.Month != june {
				t.Errorf("stage %s of %s, want %s", st.Stage, st.Month, tc.stage)
			}
			switch {
			case tc.change == "" && st.Change != nil:
				t.Errorf("change %s, want none", st.Change)
			case tc.change != "" && (st.Change == nil || st.Change.StringFixed(2) != tc.change):
				t.Errorf("change %v, want %s", st.Change, tc.change)
			}
			if (st.FirstMonth == nil) != (tc.stage == StageProspect) {
				t.Errorf("first month %v for a %s", st.FirstMonth, st.Stage)
			}
		})
	}
}

// TestStageOfFollowsItsThresholds: other thresholds move each boundary.
func TestStageOfFollowsItsThresholds(t *testing.T) {
	const june = Month("2026-06")
	lc := Lifecycle{NewMonths: 1, LapsedMonths: 3, TrendMonths: 2, GrowthPercent: decimal.NewFromInt(50), DeclinePercent: decimal.RequireFromString("10.5")}
	for _, tc := range []struct {
		name   string
		first  Month
		months map[Month]string
		stage  string
	}{
		{"NewOnlyInTheFirstMonth", "2026-06", map[Month]string{"2026-06": "1"}, StageNew},
		{"NotNewTheMonthAfter", "2026-05", map[Month]string{"2026-05": "1", "2026-06": "1"}, StageSteady},
		{"TwoEmptyMonthsAreNotLapsedYet", "2025-01", map[Month]string{"2026-04": "100"}, StageSteady}, // May 0 to June 0
		{"ThreeEmptyMonthsAreLapsed", "2025-01", map[Month]string{"2026-03": "100"}, StageLapsed},
		{"FiftyPercentIsNotBeyond", "2025-01", map[Month]string{"2026-05": "100", "2026-06": "150"}, StageSteady},
		{"GrowingAbove", "2025-01", map[Month]string{"2026-05": "100", "2026-06": "150.01"}, StageGrowing},
		{"TenAndAHalfIsNotBeyond", "2025-01", map[Month]string{"2026-05": "100", "2026-06": "89.50"}, StageSteady},
		{"DecliningBelow", "2025-01", map[Month]string{"2026-05": "100", "2026-06": "89.49"}, StageDeclining},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st := lc.StageOf(june, tc.first, history(tc.months)); st.Stage != tc.stage {
				t.Errorf("stage %s, want %s", st.Stage, tc.stage)
			}
		})
	}
}

// TestLifecycleLimits: each threshold's limits are inclusive, one step past
// is refused on its own field; a document without thresholds, or with
// some, gets the defaults for the rest.
func TestLifecycleLimits(t *testing.T) {
	d := decimal.RequireFromString
	for _, tc := range []struct {
		name  string
		edit  func(*Lifecycle)
		field string // "" when valid
	}{
		{"ShortestNew", func(l *Lifecycle) { l.NewMonths = 1 }, ""},
		{"LongestNew", func(l *Lifecycle) { l.NewMonths = 24 }, ""},
		{"NoNew", func(l *Lifecycle) { l.NewMonths = 0 }, "lifecycle.new_months"},
		{"TooLongNew", func(l *Lifecycle) { l.NewMonths = 25 }, "lifecycle.new_months"},
		{"ShortestLapse", func(l *Lifecycle) { l.LapsedMonths = 1 }, ""},
		{"LongestLapse", func(l *Lifecycle) { l.LapsedMonths = 24 }, ""},
		{"NoLapse", func(l *Lifecycle) { l.LapsedMonths = 0 }, "lifecycle.lapsed_months"},
		{"TooLongLapse", func(l *Lifecycle) { l.LapsedMonths = 25 }, "lifecycle.lapsed_months"},
		{"ShortestTrend", func(l *Lifecycle) { l.TrendMonths = 2 }, ""},
		{"LongestTrend", func(l *Lifecycle) { l.TrendMonths = 12 }, ""},
		{"TrendOfOneMonth", func(l *Lifecycle) { l.TrendMonths = 1 }, "lifecycle.trend_months"},
		{"TooLongTrend", func(l *Lifecycle) { l.TrendMonths = 13 }, "lifecycle.trend_months"},
		{"SmallestGrowth", func(l *Lifecycle) { l.GrowthPercent = d("0.01") }, ""},
		{"LargestGrowth", func(l *Lifecycle) { l.GrowthPercent = d("1000") }, ""},
		{"NoGrowth", func(l *Lifecycle) { l.GrowthPercent = d("0") }, "lifecycle.growth_percent"},
		{"TooMuchGrowth", func(l *Lifecycle) { l.GrowthPercent = d("1000.01") }, "lifecycle.growth_percent"},
		{"GrowthTooFine", func(l *Lifecycle) { l.GrowthPercent = d("20.001") }, "lifecycle.growth_percent"},
		{"SmallestDecline", func(l *Lifecycle) { l.DeclinePercent = d("0.01") }, ""},
		{"LargestDecline", func(l *Lifecycle) { l.DeclinePercent = d("99.99") }, ""},
		{"NoDecline", func(l *Lifecycle) { l.DeclinePercent = d("0") }, "lifecycle.decline_percent"},
		{"TotalDecline", func(l *Lifecycle) { l.DeclinePercent = d("100") }, "lifecycle.decline_percent"},
		{"DeclineTooFine", func(l *Lifecycle) { l.DeclinePercent = d("20.001") }, "lifecycle.decline_percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Default()
			tc.edit(&rs.Lifecycle)
			err := rs.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ve, ok := err.(*ValidationError)
			if !ok || ve.Fields[tc.field] == "" || len(ve.Fields) != 1 {
				t.Fatalf("error %v, want one on %s", err, tc.field)
			}
		})
	}

	doc, _ := json.Marshal(Default())
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "lifecycle")
	without, _ := json.Marshal(m)
	rs, err := Parse(without)
	if err != nil || rs.Lifecycle.NewMonths != 3 || rs.Lifecycle.LapsedMonths != 2 || rs.Lifecycle.TrendMonths != 3 ||
		!rs.Lifecycle.GrowthPercent.Equal(d("20")) || !rs.Lifecycle.DeclinePercent.Equal(d("20")) {
		t.Errorf("a document without lifecycle: %+v %v, want 3, 2, 3, 20%%, 20%%", rs.Lifecycle, err)
	}
	m["lifecycle"] = map[string]any{"lapsed_months": 4}
	partial, _ := json.Marshal(m)
	if rs, err = Parse(partial); err != nil || rs.Lifecycle.LapsedMonths != 4 || rs.Lifecycle.NewMonths != 3 {
		t.Errorf("a document with lapsed_months only: %+v %v, want 4 and the defaults", rs.Lifecycle, err)
	}
}
