package loyalty_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

// An idempotency key undoes one expiry run: the same key on the undo of
// another run is refused as a conflict naming the run it undid, and that
// other run stays as it was.
func TestAnUndoKeyUsedForOneRunIsRefusedForAnother(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai)) // expires 2027-03-01
	e.Ship("C1", "S2", "40", march(1, 9))                                   // expires 2027-04-01
	var runs []int64
	for _, asOf := range []time.Time{time.Date(2027, 3, 2, 0, 0, 0, 0, shanghai), time.Date(2027, 4, 2, 0, 0, 0, 0, shanghai)} {
		e.Clock.Set(asOf)
		run, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
		if err != nil || run.Points == 0 {
			t.Fatalf("run as of %v: %+v, %v", asOf, run, err)
		}
		runs = append(runs, run.RunID)
	}
	in := loyalty.UndoInput{Reason: "mistake", Actor: "ops", IdempotencyKey: "undo-1", RequestHash: []byte("h1")}
	if _, _, err := e.Loyalty.UndoExpiry(e.Ctx, runs[0], in); err != nil {
		t.Fatal(err)
	}
	in.RequestHash = []byte("h2")
	_, _, err := e.Loyalty.UndoExpiry(e.Ctx, runs[1], in)
	servicetest.WantCode(t, err, fault.IdempotencyConflict)
	if want := fmt.Sprintf("the undo of expiry run %d", runs[0]); !strings.Contains(err.Error(), want) {
		t.Errorf("refusal %q does not name %q", err, want)
	}
	if p := e.Points("C1"); p.Balance != 100 {
		t.Errorf("C1 after the refused undo: %+v, want the 100 points of the first run back, the second's 40 still expired", p)
	}
}
