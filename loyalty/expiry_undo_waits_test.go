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

// TestAnExpiryUndoLetsRowsReferringToItsCustomersBeWritten: an undo holds
// its customers' locks for its whole length (every one of them, in one
// transaction). A row that only refers to one of them, a portal session or
// a portal link (its foreign key's check takes KEY SHARE on the customer),
// is still written meanwhile: the customer lock does not exclude it (FOR
// NO KEY UPDATE; FOR UPDATE did).
func TestAnExpiryUndoLetsRowsReferringToItsCustomersBeWritten(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.Ship("C1", "S1", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai))
	e.Ship("C2", "S2", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai))
	asOf := time.Date(2027, 3, 2, 0, 0, 0, 0, shanghai)
	e.Clock.Set(asOf)
	run, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil || run.Customers != 2 {
		t.Fatalf("the run: %+v, %v", run, err)
	}
	// The undo is under way: it holds C1 and C2, and waits for C2's points
	// balance (as a run of many customers works through them).
	release := e.Hold(`SELECT 1 FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = 'customer:C2:points' FOR UPDATE`)
	done := make(chan error, 1)
	go func() {
		_, _, err := e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: "run by mistake", Actor: "ops"})
		done <- err
	}()
	if n := e.LockWaitersWithin(5*time.Second, 1); n < 1 {
		t.Fatal("the undo is not waiting")
	}
	tx, err := e.Pool.Begin(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(e.Ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(e.Ctx, `SELECT 1 FROM customers WHERE id = 'C1' FOR KEY SHARE`); err != nil {
		t.Errorf("a foreign key's check on C1 (a portal session, a portal link) during the undo: %v", err)
	}
	tx.Rollback(e.Ctx)
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.Reconcile()
}
