package loyalty_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// Histories reads, in customer id order, each customer of the month (or
// the one asked for): registered before the instant, or later with
// shipments dated through the month; the first month they contributed in
// up to the month read through, and their contributions in the span months
// up to it, no earlier ones. One registered later with none is not read.
func TestHistoriesReadTheSpanUpToTheMonth(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.Ship("C1", "S1", "100", time.Date(2026, 1, 20, 9, 0, 0, 0, shanghai))
	e.Ship("C1", "S2", "200", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
	e.Ship("C1", "S3", "300", march(2, 9))
	e.Ship("C2", "S4", "50", march(3, 9))
	e.Clock.Add(2 * time.Hour)
	e.Customer("C3") // registered after the instant read, with a shipment in the month
	e.Ship("C3", "S5", "70", march(15, 13))
	e.Customer("C4") // registered after it, with none
	before := servicetest.Start.Add(time.Hour)

	read := func(customer string) []string {
		t.Helper()
		var got []string
		if err := e.Ledger.ReadTx(e.Ctx, func(tx *ledger.Tx) error {
			got = nil
			return loyalty.Histories(e.Ctx, tx, "2026-03", 2, before, customer, func(h loyalty.History) error {
				s := fmt.Sprintf("%s first %q:", h.CustomerID, h.First)
				for _, m := range slices.Sorted(maps.Keys(h.Months)) {
					s += fmt.Sprintf(" %s=%s", m, h.Months[m].StringFixed(2))
				}
				got = append(got, s)
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := read(""), []string{
		`C1 first "2026-01": 2026-02=200.00 2026-03=300.00`,
		`C2 first "2026-03": 2026-03=50.00`,
		`C3 first "2026-03": 2026-03=70.00`,
	}; !slices.Equal(got, want) {
		t.Errorf("histories: %q, want %q", got, want)
	}
	if got, want := read("C2"), []string{`C2 first "2026-03": 2026-03=50.00`}; !slices.Equal(got, want) {
		t.Errorf("C2's history: %q, want %q", got, want)
	}
}

// The rules at the end of a month are those in effect at its last instant:
// with a version effective from 1 April 00:00 Shanghai, March ends under
// version 1 and April under version 2, each at the next month's first
// instant.
func TestRulesAtEndOfAMonthAreThoseOfItsLastInstant(t *testing.T) {
	e := newEnv(t)
	rs := rules.Default()
	rs.EffectiveFrom = time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai)
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		month   rules.Month
		version int
		end     time.Time
	}{
		{"2026-03", 1, time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai)},
		{"2026-04", 2, time.Date(2026, 5, 1, 0, 0, 0, 0, shanghai)},
	} {
		var got rules.RuleSet
		var end time.Time
		if err := e.Ledger.ReadTx(e.Ctx, func(tx *ledger.Tx) (err error) {
			got, end, err = e.Loyalty.RulesAtEndOf(e.Ctx, tx, c.month)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got.Version != c.version || !end.Equal(c.end) {
			t.Errorf("end of %s: version %d ending %v; want version %d ending %v", c.month, got.Version, end, c.version, c.end)
		}
	}
}

// A profile shows the customer's stage at the end of last month (the last
// whole one): a customer whose first contribution was in February is new
// there (DOMAIN.md's lifecycle; rules.DefaultLifecycle: new for 3 months),
// one who has contributed nothing is a prospect.
func TestProfileShowsTheStageAtTheEndOfLastMonth(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.Ship("C1", "S1", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai))
	for _, c := range []struct{ customer, stage, first string }{{"C1", rules.StageNew, "2026-02"}, {"C2", rules.StageProspect, ""}} {
		st := e.Profile(t, c.customer).Lifecycle
		first := ""
		if st.FirstMonth != nil {
			first = string(*st.FirstMonth)
		}
		if st.Month != "2026-02" || st.Stage != c.stage || first != c.first {
			t.Errorf("%s's stage %+v, want %s in 2026-02, first month %q", c.customer, st, c.stage, c.first)
		}
	}
}
