package finance_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/rules"
)

// TestLifecycleReportCountsStagesAndMovements: six customers with four
// months of history, each at another stage at the end of March 2026 by the
// default thresholds (docs/RULES.md), worked out by hand:
//
//	A 1,000 a month Dec-Mar:            Feb new (first in Dec), Mar steady (0%)
//	B 1,000 Dec-Feb, 1,300 in Mar:      Feb new, Mar growing (+30%)
//	C 1,000 Dec-Feb, 500 in Mar:        Feb new, Mar declining (-50%)
//	D 1,000 Nov-Jan, nothing since:     Feb declining (0 against 1,000), Mar lapsed
//	E first ships 100 in Mar:           Feb prospect, Mar new
//	F never ships:                      prospect both months
//
// Then a version 2 raising growth_percent to 40, in effect at the end of
// March, makes B steady (March's stages follow March's thresholds, the
// movements start from February's by version 1's); a customer registered
// in April is not counted; B's profile in April shows March's stage.
func TestLifecycleReportCountsStagesAndMovements(t *testing.T) {
	e := newEnv(t)
	at := func(m time.Month, y int) { e.Clock.Set(time.Date(y, m, 10, 12, 0, 0, 0, shanghai)) }
	ship := func(customer, amount string) {
		e.Ship(customer, customer+"-"+e.Clock.Now().Format("2006-01")+"-"+amount, amount, e.Clock.Now().Add(-time.Minute))
	}
	at(time.November, 2025)
	for _, c := range []string{"A", "B", "C", "D", "E", "F"} {
		e.Customer(c)
	}
	ship("D", "1000")
	at(time.December, 2025)
	for _, c := range []string{"A", "B", "C", "D"} {
		ship(c, "1000")
	}
	at(time.January, 2026)
	for _, c := range []string{"A", "B", "C", "D"} {
		ship(c, "1000")
	}
	at(time.February, 2026)
	for _, c := range []string{"A", "B", "C"} {
		ship(c, "1000")
	}
	at(time.March, 2026)
	ship("A", "1000")
	ship("B", "1300")
	ship("C", "500")
	ship("E", "100")

	stages := func(prospect, new, growing, steady, declining, lapsed int) []finance.StageCount {
		return []finance.StageCount{{"prospect", prospect}, {"new", new}, {"growing", growing}, {"steady", steady},
			{"declining", declining}, {"lapsed", lapsed}}
	}
	report := func() finance.LifecycleReport {
		t.Helper()
		rep, err := e.Finance.Lifecycle(e.Ctx, "2026-03")
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	want := finance.LifecycleReport{Month: "2026-03", RuleVersion: 1, Previous: "2026-02", Customers: 6,
		Stages: stages(1, 1, 1, 1, 1, 1),
		Movements: []finance.Movement{{"prospect", "prospect", 1}, {"prospect", "new", 1}, {"new", "growing", 1},
			{"new", "steady", 1}, {"new", "declining", 1}, {"declining", "lapsed", 1}}}
	if got := report(); !reflect.DeepEqual(got, want) {
		t.Errorf("March by version 1:\n%+v\nwant\n%+v", got, want)
	}

	e.Clock.Set(time.Date(2026, 3, 20, 12, 0, 0, 0, shanghai))
	v2 := rules.Default()
	v2.EffectiveFrom, v2.Lifecycle.GrowthPercent = time.Date(2026, 3, 25, 0, 0, 0, 0, shanghai), d("40")
	if _, err := e.Loyalty.PutRules(e.Ctx, v2, "test"); err != nil {
		t.Fatal(err)
	}
	want.RuleVersion, want.Stages = 2, stages(1, 1, 0, 2, 1, 1)
	want.Movements = []finance.Movement{{"prospect", "prospect", 1}, {"prospect", "new", 1}, {"new", "steady", 2},
		{"new", "declining", 1}, {"declining", "lapsed", 1}}
	if got := report(); !reflect.DeepEqual(got, want) {
		t.Errorf("March by version 2:\n%+v\nwant\n%+v", got, want)
	}

	e.Clock.Set(time.Date(2026, 4, 2, 12, 0, 0, 0, shanghai))
	e.Customer("G")
	if got := report(); !reflect.DeepEqual(got, want) {
		t.Errorf("March, with a customer registered in April:\n%+v\nwant\n%+v", got, want)
	}
	p := e.Profile(t, "B")
	if lc := p.Lifecycle; lc.Month != "2026-03" || lc.Stage != rules.StageSteady || lc.FirstMonth == nil || *lc.FirstMonth != "2025-12" ||
		lc.Change == nil || lc.Change.StringFixed(2) != "30.00" {
		t.Errorf("B's profile in April: %+v, want March steady (+30.00%%), first in 2025-12", lc)
	}
	if p := e.Profile(t, "G"); p.Lifecycle.Stage != rules.StageProspect || p.Lifecycle.FirstMonth != nil {
		t.Errorf("G's profile: %+v, want a prospect", p.Lifecycle)
	}
}
