package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/loyalty"
)

// TestAnExpiryUndoWaitsForItsCustomersLocks: undoing a run gives its
// customers' points back, and every write that spends a customer's points
// holds their lock, dated from when it took it (ledger.Tx.Restamp). An undo
// that did not wait for that lock could commit points such a write then
// spends, dated after the write: below zero by date between the two. The
// undo waits while C1's lock is held, and undoes the run once it is let go.
func TestAnExpiryUndoWaitsForItsCustomersLocks(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai)) // expires 2027-03-01
	asOf := time.Date(2027, 3, 2, 0, 0, 0, 0, shanghai)
	e.Clock.Set(asOf)
	run, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || run.Points != 100 {
		t.Fatalf("the run: %+v, %v", run, err)
	}
	release := e.Hold(`SELECT 1 FROM customers WHERE id = 'C1' FOR UPDATE`)
	done := make(chan error, 1)
	go func() {
		_, _, err := e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: "run by mistake", Actor: "ops"})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the undo finished (%v) while C1's lock was held", err)
	case <-time.After(2 * time.Second):
	}
	if n := e.LockWaitersWithin(5*time.Second, 1); n < 1 {
		t.Fatal("the undo is not waiting for a lock")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := e.Points("C1"); p.Balance != 100 {
		t.Errorf("C1 after the undo: %+v, want the 100 points back", p)
	}
	e.Reconcile()
}
