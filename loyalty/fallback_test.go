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

// A deadlock met by one event of a group written event by event is not
// that event's refusal: the whole group is written again, and every event
// is recorded once. The deadlock is the database's own error, raised once
// by a trigger on the first write of shipment S2 (a sequence, which a
// rollback does not undo, counts the tries).
func TestADeadlockInOneEventRetriesTheWholeGroup(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	if _, err := e.Pool.Exec(e.Ctx, `CREATE SEQUENCE test_deadlock_tries;
CREATE FUNCTION test_deadlock_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.shipment_id = 'S2' AND nextval('test_deadlock_tries') = 1 THEN
        RAISE EXCEPTION 'deadlock detected (by the test)' USING ERRCODE = '40P01';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_deadlock_once BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_deadlock_once();`); err != nil {
		t.Fatal(err)
	}
	at := e.Clock.Now().Add(-time.Hour)
	outs := e.Loyalty.ProcessEventByEvent(e.Ctx, e.Key, "test", []loyalty.Event{
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", at),
		e.Event(loyalty.ShipmentCompleted, "C1", "S2", "80", at),
		e.Event(loyalty.ShipmentCompleted, "C1", "S3", "20", at),
	})
	for i, want := range []int64{100, 80, 20} {
		if outs[i].Err != nil {
			t.Fatalf("event %d: %v", i, outs[i].Err)
		}
		if got := outs[i].Result.Points; got != want {
			t.Errorf("event %d earned %d points, want %d", i, got, want)
		}
	}
	var tries int64
	e.Scan(t, `SELECT last_value FROM test_deadlock_tries`, &tries)
	if tries != 2 {
		t.Errorf("S2 written %d times, want 2 (the deadlock, then the group's retry)", tries)
	}
	if got := e.Points("C1").Balance; got != 200 {
		t.Errorf("C1 holds %d points, want 200", got)
	}
	e.Reconcile()
}
