package api

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestAnExpiryRunUndoneWhileItRunsAnswers409: an admin undoes a run over
// HTTP while the run is in its second chunk of three: the undo waits for
// that chunk and undoes both, and the run stops at its third with 409
// already_undone, expiring nothing more; the books reconcile.
func TestAnExpiryRunUndoneWhileItRunsAnswers409(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	customer := func(i int) string { return ledger.CustomerAccount(fmt.Sprintf("X%04d", i), "points") }
	lot := &ledger.Lot{AvailableAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)}
	if err := h.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		for i := range 2*loyalty.ExpiryChunk + 1 {
			if _, err := tx.Post(ctx, ledger.EntryInput{Kind: "adjustment", Actor: "test", Reason: "goodwill", Postings: []ledger.PostingInput{
				{Account: customer(i), Amount: decimal.NewFromInt(10), Lot: lot},
				{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-10)}}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A customer of the second chunk, locked as every writer locks them:
	// the run waits there, its first chunk committed.
	blocker, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, `SELECT 1 FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = $1 FOR UPDATE OF b`, customer(loyalty.ExpiryChunk+loyalty.ExpiryChunk/2)); err != nil {
		t.Fatal(err)
	}
	run := make(chan response, 1)
	go func() { run <- h.do(call{method: "POST", path: "/v1/jobs/expire", key: "admin"}) }()
	testdb.WaitForLockWaiters(t, h.pool, 1)
	var chunkPID int
	if err := h.pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&chunkPID); err != nil {
		t.Fatal(err)
	}
	var runID int64
	if err := h.pool.QueryRow(ctx, `SELECT id FROM expiry_runs`).Scan(&runID); err != nil {
		t.Fatal(err)
	}
	undo := make(chan response, 1)
	go func() {
		undo <- h.do(call{method: "POST", path: fmt.Sprintf("/v1/jobs/expire/runs/%d/undo", runID), key: "admin",
			body: map[string]any{"reason": "run by mistake"}})
	}()
	testdb.WaitForLockWaiters(t, h.pool, 2) // the undo waits for the run's second chunk, which holds the run
	// The undo's session, paused, as a busy machine may leave it once the
	// second chunk ends: the run's third chunk must still wait for it.
	var undoPID int
	if err := h.pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1`, chunkPID).Scan(&undoPID); err != nil {
		t.Fatalf("the undo's session: %v", err)
	}
	if err := syscall.Kill(undoPID, syscall.SIGSTOP); err != nil {
		t.Fatalf("pausing the undo's session %d: %v", undoPID, err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(undoPID, syscall.SIGCONT); err != nil {
				t.Errorf("resuming the undo's session: %v", err)
			}
		}
	}
	defer resume()
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) { // a bound for a stuck test, not a timing
		select {
		case r := <-run:
			resume()
			t.Fatalf("the run went on while its undo waited for the run: %d %s", r.status, r.body)
		default:
		}
		var third int // the run's next chunk, waiting for the undo to take the run
		if err := h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1
  AND (query LIKE '%pg_advisory_xact_lock%' OR query LIKE '%FROM expiry_runs%')`, undoPID).Scan(&third); err != nil {
			t.Fatal(err)
		}
		if third > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run's third chunk never waited for the undo")
		}
	}
	resume()
	wantStatus(t, <-undo, http.StatusOK)
	wantProblem(t, <-run, http.StatusConflict, fault.AlreadyUndone)
	var standing, third int
	if err := h.pool.QueryRow(ctx, `SELECT
    (SELECT count(*) FROM entries e WHERE e.kind = 'expiry' AND NOT EXISTS (SELECT FROM entries x WHERE x.reversal_of = e.id)),
    (SELECT count(*) FROM points_lots l JOIN accounts a ON a.id = l.account_id WHERE a.code = $1 AND l.remaining = 10)`,
		customer(2*loyalty.ExpiryChunk)).Scan(&standing, &third); err != nil {
		t.Fatal(err)
	}
	if standing != 0 || third != 1 {
		t.Errorf("after the undone run: %d expiry entries standing, the third chunk's customer's lot whole: %v; want none, and whole",
			standing, third == 1)
	}
	h.expect(http.StatusOK, call{method: "GET", path: "/v1/reconciliation", key: "finance"})
}
