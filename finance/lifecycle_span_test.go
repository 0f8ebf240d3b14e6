package finance_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/tally-ledger/tally/finance"
)

// TestLifecycleReadsTheMonthBeforesWholeTrend: the month before's stage
// needs its own trend window, which begins one month earlier than the
// month's. A customer shipping 1,000 every month from October 2025 is
// steady at the end of February 2026 (not new: first in October, outside
// the 3 months up to February; 1,000 against the average of December and
// January, 1,000) and at the end of March, by the default thresholds
// (docs/RULES.md). Read without December, February's average would be
// January's 1,000 over 2 months, 500, and February growing.
func TestLifecycleReadsTheMonthBeforesWholeTrend(t *testing.T) {
	e := newEnv(t)
	months := []time.Time{
		time.Date(2025, 10, 10, 12, 0, 0, 0, shanghai), time.Date(2025, 11, 10, 12, 0, 0, 0, shanghai),
		time.Date(2025, 12, 10, 12, 0, 0, 0, shanghai), time.Date(2026, 1, 10, 12, 0, 0, 0, shanghai),
		time.Date(2026, 2, 10, 12, 0, 0, 0, shanghai), time.Date(2026, 3, 10, 12, 0, 0, 0, shanghai),
	}
	for i, at := range months {
		e.Clock.Set(at)
		if i == 0 {
			e.Customer("A")
		}
		e.Ship("A", "A-"+at.Format("2006-01"), "1000", at.Add(-time.Minute))
	}
	rep, err := e.Finance.Lifecycle(e.Ctx, "2026-03")
	if err != nil {
		t.Fatal(err)
	}
	want := finance.LifecycleReport{Month: "2026-03", RuleVersion: 1, Previous: "2026-02", Customers: 1,
		Stages:    []finance.StageCount{{"prospect", 0}, {"new", 0}, {"growing", 0}, {"steady", 1}, {"declining", 0}, {"lapsed", 0}},
		Movements: []finance.Movement{{"steady", "steady", 1}}}
	if !reflect.DeepEqual(rep, want) {
		t.Errorf("March:\n%+v\nwant\n%+v", rep, want)
	}
}
