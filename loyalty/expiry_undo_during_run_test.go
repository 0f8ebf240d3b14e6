package loyalty_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

// TestExpiryRunUndoneWhileItRunsExpiresNothingMore: an admin undoes a run
// whose first chunk is posted while its later chunks are still to come. An
// undo is exact: the run stops there (the rest of its customers keep their
// points until a later run), so that no entry of a run marked undone is
// left standing and the undo's totals are the run's.
func TestExpiryRunUndoneWhileItRunsExpiresNothingMore(t *testing.T) {
	e := newEnv(t)
	expiresAt := marchLotV1
	if _, err := e.seedExpiry(expiresAt); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(expiresAt.Add(time.Hour))
	before := e.heldAndLots()

	var undone loyalty.ExpiryUndo
	var undoErr error
	rep, err := e.Loyalty.Expire(e.Ctx, expiresAt, "test", func(r loyalty.ExpiryReport) {
		if r.Chunks == 1 { // the first chunk is committed, the second not begun
			undone, _, undoErr = e.Loyalty.UndoExpiry(e.Ctx, r.RunID, loyalty.UndoInput{Reason: "run by mistake", Actor: "ops"})
		}
	})
	if undoErr != nil {
		t.Fatalf("undo during the run: %v", undoErr)
	}
	if fault.CodeOf(err) != fault.AlreadyUndone {
		t.Errorf("the run went on after its undo: %+v, %v; want it stopped with %s", rep, err, fault.AlreadyUndone)
	}
	var standing int
	e.Scan(t, `SELECT count(*) FROM expiry_run_entries re JOIN expiry_runs r ON r.id = re.run_id
WHERE r.undone_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entries x WHERE x.reversal_of = re.entry_id)`, &standing)
	if standing != 0 {
		t.Errorf("%d expiry entries of the undone run are not undone", standing)
	}
	var customers, points int64
	e.Scan(t, `SELECT customers, points FROM expiry_runs`, &customers, &points)
	if int64(undone.Customers) != customers || undone.Points != points {
		t.Errorf("the undo gave back %d customers' %d points; the run expired %d customers' %d", undone.Customers, undone.Points,
			customers, points)
	}
	// Nothing expired stands: every lot and balance is as before the run.
	if got := e.heldAndLots(); !slices.Equal(got, before) {
		t.Errorf("books after the undone run differ from before it:\n%s", servicetest.DiffLines(got, before))
	}
	e.Reconcile()
}
