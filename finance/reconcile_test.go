package finance_test

import (
	"slices"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// TestReconcileRunsTheChecksOfTheRowsBesideTheBooks: finance's
// reconciliation runs the ledger's invariants and the checks of the rows
// kept beside the books, and names what breaks each: a deposit whose
// recorded rebate was edited (prepaid's rebates_match_rules) and a shipment
// row naming a customer and an entry that do not exist (loyalty's
// event_rows_intact); the ledger's own invariants still pass.
func TestReconcileRunsTheChecksOfTheRowsBesideTheBooks(t *testing.T) {
	e := newEnv(t)
	testdb.SkipBooks(t, "a rebate and a shipment row are broken on purpose")
	e.Customer("C1")
	dep, err := e.Money(prepaid.Deposit, "C1", "5000")
	if err != nil {
		t.Fatal(err)
	}
	e.Ship("C1", "S1", "100", march(10, 9))
	checks := func() map[string]ledger.Check {
		t.Helper()
		r, err := e.Finance.Reconcile(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]ledger.Check{}
		for _, c := range r.Checks {
			out[c.Name] = c
		}
		if pass := out["rebates_match_rules"].Pass && out["event_rows_intact"].Pass; r.Pass && !pass {
			t.Errorf("reconciliation passes with %+v", r.Checks)
		}
		return out
	}
	before := checks()
	for _, name := range []string{"rebates_match_rules", "event_rows_intact"} {
		if c, ok := before[name]; !ok || !c.Pass {
			t.Fatalf("sound books: %s = %+v (listed: %v)", name, c, ok)
		}
	}

	if _, err := e.Pool.Exec(e.Ctx, `UPDATE money_movements SET rebate = 151`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pool.Exec(e.Ctx, `INSERT INTO shipments (shipment_id, customer_id, amount, occurred_at, month,
    points_volume, points_campaign, rule_version, entry_id)
SELECT 'S2', 'NOBODY', amount, occurred_at, month, 0, 0, rule_version, 999999999 FROM shipments WHERE shipment_id = 'S1'`); err != nil {
		t.Fatal(err)
	}
	after := checks()
	if c := after["rebates_match_rules"]; c.Pass || !slices.Equal(c.Offending, []string{"deposit:" + dep.ID}) {
		t.Errorf("rebates_match_rules = %+v, want deposit:%s named", c, dep.ID)
	}
	if c := after["event_rows_intact"]; c.Pass || !slices.Equal(c.Offending, []string{"shipment:S2"}) {
		t.Errorf("event_rows_intact = %+v, want shipment:S2 named", c)
	}
	for name, c := range after {
		if name != "rebates_match_rules" && name != "event_rows_intact" && !c.Pass {
			t.Errorf("%s fails: %v", name, c.Offending)
		}
	}
}
