package loyalty_test

import (
	"encoding/json"
	"testing"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
)

// A batch of events over A, B and C is written as one group, which locks
// its customers in id order in one statement and gets its transaction id
// at A's lock. With B held elsewhere, it waits; meanwhile a write of C
// alone commits a notification of C, with a later transaction id. The
// feed (and the webhooks) give a customer's notifications in transaction
// id order: the group's points.earned of C must still come after the
// notification committed before it (helper-154's finding, for the writers
// of money and redemptions; the event groups lock the same way). The
// group is run again once it holds its locks (notices_follow), with an id
// after it.
func TestAGroupsNoticesFollowThoseCommittedWhileItWaitedForALock(t *testing.T) {
	// One event writer: the three events are one group (with two, each
	// customer's events go to one of them, and A, B and C may be split).
	e := servicetest.NewWith(t, servicetest.Config{Loyalty: []loyalty.Option{loyalty.WithEventWriters(1)}})
	for _, c := range []string{"A", "B", "C"} {
		e.Customer(c)
	}
	hold, err := e.Pool.Begin(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(e.Ctx)
	if _, err := hold.Exec(e.Ctx, `SELECT FROM customers WHERE id = 'B' FOR NO KEY UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan []loyalty.Outcome, 1)
	go func() {
		done <- e.ProcessBatch(e.Key, []loyalty.Event{
			e.Event(loyalty.ShipmentCompleted, "A", "SA", "10", servicetest.Start),
			e.Event(loyalty.ShipmentCompleted, "B", "SB", "10", servicetest.Start),
			e.Event(loyalty.ShipmentCompleted, "C", "SC", "10", servicetest.Start),
		})
	}()
	testdb.WaitForLockWaiters(t, e.Pool, 1)
	if err := e.Ledger.InTx(e.Ctx, func(tx *ledger.Tx) error {
		if _, err := loyalty.LockCustomers(e.Ctx, tx, []string{"C"}); err != nil {
			return err
		}
		_, err := notify.Emit(e.Ctx, tx, notify.Event{Type: notify.TierChanged, Customer: "C", Payload: map[string]any{"by": "C alone"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := hold.Commit(e.Ctx); err != nil {
		t.Fatal(err)
	}
	for i, o := range <-done {
		if o.Err != nil {
			t.Fatalf("event %d: %v", i, o.Err)
		}
	}
	list, _, err := notify.Feed(e.Ctx, e.Ledger, notify.Cursor{}, 100, notify.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var ofC []string
	for _, n := range list {
		if n.Customer == "C" {
			var p struct {
				By string `json:"by"`
			}
			_ = json.Unmarshal(n.Payload, &p)
			ofC = append(ofC, n.Type+" "+p.By)
		}
	}
	if len(ofC) != 2 || ofC[0] != notify.TierChanged+" C alone" {
		t.Errorf("C's notifications in the feed: %q; want the one committed first (C alone) first", ofC)
	}
}
