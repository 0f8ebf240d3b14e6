package finance_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/prepaid"
)

// failedNotices reads the reconciliation.failed notifications, oldest
// first: the names of the checks each lists.
func (e *env) failedNotices() [][]string {
	e.T.Helper()
	rows, err := e.Pool.Query(e.Ctx, `SELECT customer_id IS NULL, payload FROM notifications
WHERE type = 'reconciliation.failed' ORDER BY id`)
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		var noCustomer bool
		var raw []byte
		if err := rows.Scan(&noCustomer, &raw); err != nil {
			e.T.Fatal(err)
		}
		var p finance.ReconciliationFailedNotice
		if err := json.Unmarshal(raw, &p); err != nil {
			e.T.Fatal(err)
		}
		if !noCustomer {
			e.T.Errorf("a reconciliation.failed notice names a customer")
		}
		var names []string
		for _, c := range p.Failed {
			if c.Message == "" || len(c.Offending) == 0 {
				e.T.Errorf("failed check %+v: no message or no offending ids", c)
			}
			names = append(names, c.Name)
		}
		out = append(out, names)
	}
	if err := rows.Err(); err != nil {
		e.T.Fatal(err)
	}
	return out
}

// TestReconciliationFailureIsAnnouncedOncePerFailure: sound books announce
// nothing; an edited rebate is announced (rebates_match_rules) once however
// often reconciliation runs; a second breakage beside it is a new failure,
// announced with both checks.
func TestReconciliationFailureIsAnnouncedOncePerFailure(t *testing.T) {
	e := newEnv(t)
	testdb.SkipBooks(t, "a rebate and a shipment row are broken on purpose")
	e.Customer("C1")
	if _, err := e.Money(prepaid.Deposit, "C1", "5000"); err != nil {
		t.Fatal(err)
	}
	e.Ship("C1", "S1", "100", march(10, 9))
	reconcile := func() {
		t.Helper()
		if _, err := e.Finance.Reconcile(e.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	reconcile()
	if got := e.failedNotices(); len(got) != 0 {
		t.Fatalf("sound books announced %v", got)
	}

	if _, err := e.Pool.Exec(e.Ctx, `UPDATE money_movements SET rebate = 151`); err != nil {
		t.Fatal(err)
	}
	reconcile()
	reconcile()
	got := e.failedNotices()
	if len(got) != 1 || !slices.Equal(got[0], []string{"rebates_match_rules"}) {
		t.Fatalf("after an edited rebate and two runs: %v, want one notice of rebates_match_rules", got)
	}

	if err := servicetest.HandShipment(e.Ctx, e.Pool, "S2", "NOBODY", 999999999); err != nil {
		t.Fatal(err)
	}
	reconcile()
	reconcile()
	got = e.failedNotices()
	if len(got) != 2 || !slices.Equal(got[1], []string{"rebates_match_rules", "event_rows_intact"}) {
		t.Errorf("after a second breakage: %v, want a second notice of both checks", got)
	}
}
