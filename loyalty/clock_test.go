package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

// TestEachTransactionOfTheServiceHasOneClock runs the service on a clock
// that moves on a second each time it is read, and checks that what one
// transaction writes (the loyalty rows and the entries) bears one instant.
// catalog and prepaid check their own transactions the same way.
func TestEachTransactionOfTheServiceHasOneClock(t *testing.T) {
	e := servicetest.NewTicking(t)
	at := func(query string, args ...any) time.Time {
		t.Helper()
		var v time.Time
		if err := e.Pool.QueryRow(e.Ctx, query, args...).Scan(&v); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return v
	}

	e.Customer("C1")
	servicetest.WantOneInstant(t, "a customer and their points account created",
		at(`SELECT created_at FROM customers WHERE id = 'C1'`), at(`SELECT created_at FROM accounts WHERE code = 'customer:C1:points'`))

	ev := e.Event(loyalty.ShipmentCompleted, "C1", "S1", "1000", servicetest.Start.Add(-time.Hour))
	res := e.MustProcess(ev)
	servicetest.WantOneInstant(t, "an event recorded and its entry recorded",
		at(`SELECT created_at FROM events WHERE event_id = $1`, ev.EventID), e.Entry(*res.EntryID).RecordedAt)
}
