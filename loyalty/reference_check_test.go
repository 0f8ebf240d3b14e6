package loyalty_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
)

// The reference check names a shipment row whose entry does not exist, also
// when its customer does.
func TestReferenceCheckNamesAShipmentWhoseEntryIsMissing(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("a shipment row names an entry that does not exist, on purpose")
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	check := func() ledger.Check {
		t.Helper()
		r, err := e.Ledger.Reconcile(e.Ctx, e.Loyalty.ReferenceCheck)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Checks {
			if c.Name == "event_rows_intact" {
				return c
			}
		}
		t.Fatal("no event_rows_intact check")
		return ledger.Check{}
	}
	if c := check(); !c.Pass || len(c.Offending) != 0 {
		t.Fatalf("sound rows: %+v", c)
	}
	if err := servicetest.HandShipment(e.Ctx, e.Pool, "S2", "C1", 999999999); err != nil {
		t.Fatal(err)
	}
	if c := check(); c.Pass || !slices.Equal(c.Offending, []string{"shipment:S2"}) {
		t.Errorf("a shipment naming a missing entry: %+v, want shipment:S2 named", c)
	}
}

// The reference check names an event row out of its key's space and one
// whose key does not exist, and no sound one.
func TestReferenceCheckNamesAnEventOutOfItsKeysSpace(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("event rows out of their keys' spaces, on purpose")
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	for _, q := range []string{
		`INSERT INTO events (key_id, event_id, type, customer_id, request_hash, result, entry_id, space)
SELECT key_id, 'E-moved', type, customer_id, request_hash, result, NULL, 'partner:424242' FROM events LIMIT 1`,
		`INSERT INTO events (key_id, event_id, type, customer_id, request_hash, result, entry_id, space)
SELECT 987654, 'E-keyless', type, customer_id, request_hash, result, NULL, 'key:987654' FROM events LIMIT 1`,
	} {
		if _, err := e.Pool.Exec(e.Ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.Ledger.Reconcile(e.Ctx, e.Loyalty.ReferenceCheck)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name == "event_rows_intact" {
			got := slices.Clone(c.Offending)
			slices.Sort(got)
			if c.Pass || !slices.Equal(got, []string{"event:key:987654:E-keyless", "event:partner:424242:E-moved"}) {
				t.Errorf("events out of their keys' spaces: %+v, want the two named", c)
			}
			return
		}
	}
	t.Fatal("no event_rows_intact check")
}

// The reference check names at most 100 rows: with 101 shipments naming
// missing entries, 100 of them.
func TestReferenceCheckNamesAtMost100(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("shipment rows name entries that do not exist, on purpose")
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	for i := 1; i <= 101; i++ {
		if err := servicetest.HandShipment(e.Ctx, e.Pool, fmt.Sprintf("M%d", i), "C1", int64(999999000+i)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := e.Ledger.Reconcile(e.Ctx, e.Loyalty.ReferenceCheck)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name != "event_rows_intact" {
			continue
		}
		named := map[string]bool{}
		for _, o := range c.Offending {
			if !strings.HasPrefix(o, "shipment:M") {
				t.Errorf("%s named: not one of the broken shipments", o)
			}
			named[o] = true
		}
		if c.Pass || len(c.Offending) != 100 || len(named) != 100 {
			t.Errorf("101 shipments naming missing entries: %d named (%d distinct), want 100", len(c.Offending), len(named))
		}
		return
	}
	t.Fatal("no event_rows_intact check")
}
