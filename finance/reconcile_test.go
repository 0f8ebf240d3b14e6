package finance_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
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
	if err := servicetest.HandShipment(e.Ctx, e.Pool, "S2", "NOBODY", 999999999); err != nil {
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

// TestReconcileProvesThePointsOwed: finance's reconciliation proves what
// customers owe against the books. Sound books pass; a hand-made credit to
// a points_owed account (the customer "owes" -10) fails owed_not_negative
// and owed_within_due; a settlement record beyond what the refund was due
// fails owed_within_due, naming the refund and the entry.
func TestReconcileProvesThePointsOwed(t *testing.T) {
	e := newEnv(t)
	testdb.SkipBooks(t, "the points owed are broken on purpose")
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // 100 points
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90})
	if _, err := e.Redeem("C1", "mug", 1); err != nil {
		t.Fatal(err)
	}
	refund := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(2, 9))) // 10 taken, 90 owed
	if refund.Refund.PointsOwed != 90 {
		t.Fatalf("refund %+v, want 90 owed", refund.Refund)
	}
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
		return out
	}
	want := func(got map[string]ledger.Check, offenders map[string][]string) {
		t.Helper()
		for _, name := range []string{"owed_not_negative", "owed_within_due"} {
			if _, ok := got[name]; !ok {
				t.Errorf("no check %s", name)
			}
		}
		for name, c := range got {
			if w := offenders[name]; !slices.Equal(c.Offending, w) || c.Pass != (len(w) == 0) {
				t.Errorf("%s = %+v, want offenders %v", name, c, w)
			}
		}
	}
	want(checks(), nil)

	if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "t", Reason: "forgive more than owed",
		Postings: []ledger.PostingInput{{Account: "customer:C1:points_owed", Amount: d("100")},
			{Account: "platform:points:earned:adjustment", Amount: d("-100")}}}); err != nil {
		t.Fatal(err)
	}
	want(checks(), map[string][]string{"owed_not_negative": {"customer:C1:points_owed"},
		"owed_within_due": {"customer:C1:points_owed"}})

	id := *refund.EntryID
	if _, err := e.Pool.Exec(e.Ctx, `INSERT INTO points_settlements (settlement_entry_id, refund_entry_id, customer_id, points)
VALUES ($1, $1, 'C1', 95)`, id); err != nil {
		t.Fatal(err)
	}
	want(checks(), map[string][]string{"owed_not_negative": {"customer:C1:points_owed"},
		"owed_within_due": {fmt.Sprintf("refund:%d:C1", id), fmt.Sprintf("settlement:%d", id), "customer:C1:points_owed"}})
}
