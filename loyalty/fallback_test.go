package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/loyalty"
)

// TestAPanicInTheGroupedWriteFallsBackToEventByEvent: a bug that panics in
// the group loader costs the group its grouped write, not its events: they
// are written again one by one, priced as the rules say, and counted as a
// fallback (one customer's events: one group).
func TestAPanicInTheGroupedWriteFallsBackToEventByEvent(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Loyalty.SetGroupedFault(func() { panic("a bug in the group loader") })
	at := e.Clock.Now().Add(-time.Hour)
	outs := e.Loyalty.ProcessBatch(e.Ctx, e.Key, "test", []loyalty.Event{
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "123.45", at),
		e.Event(loyalty.ShipmentCompleted, "C1", "S2", "80", at),
	})
	for i, want := range []int64{123, 80} { // floating customers earn 1 point per whole CNY
		if outs[i].Err != nil {
			t.Fatalf("event %d: %v", i, outs[i].Err)
		}
		if got := outs[i].Result.Points; got != want {
			t.Errorf("event %d earned %d points, want %d", i, got, want)
		}
	}
	if n := e.Loyalty.Stats().Fallbacks.Load(); n != 1 {
		t.Errorf("%d fallbacks, want 1", n)
	}
	for c, want := range map[string]int64{"C1": 203} {
		if got := e.Points(c).Balance; got != want {
			t.Errorf("%s holds %d points, want %d", c, got, want)
		}
	}
	e.Reconcile()
}
