package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// How far back an event may be dated (docs/RULES.md, "When business may be
// dated"): at most backdating_days × 24 hours before it is recorded, by the
// window of the rule version in effect when it is recorded.

// windowStart is the earliest occurred_at the default window (60 days)
// allows for an event recorded at the test clock's 2026-03-15 12:00
// Shanghai: 14 days back to 1 March, 28 to 1 February, 18 more to 14
// January.
var windowStart = time.Date(2026, 1, 14, 12, 0, 0, 0, shanghai)

func TestEventsDatedBeforeTheBackdatingWindowAreRefused(t *testing.T) {
	eachEventPath(t, func(t *testing.T, e *env) {
		e.Customer("C1")
		tooOld := windowStart.Add(-time.Microsecond)
		rating := func(at time.Time) loyalty.Event {
			ev := e.Event(loyalty.FeedbackSubmitted, "C1", "S1", "", at)
			ev.Rating = ptr(5)
			return ev
		}
		for _, ev := range []loyalty.Event{
			e.Event(loyalty.ShipmentCompleted, "C1", "S0", "100", tooOld),
			e.Event(loyalty.ShipmentCompleted, "C1", "S0", "100", time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC)),
		} {
			_, err := e.Process(ev)
			servicetest.WantCode(t, err, fault.OccurredAtTooOld)
		}
		e.Ship("C1", "S1", "100", windowStart) // at the window's first instant
		for _, ev := range []loyalty.Event{e.Event(loyalty.ShipmentRefunded, "C1", "S1", "10", tooOld), rating(tooOld)} {
			_, err := e.Process(ev)
			servicetest.WantCode(t, err, fault.OccurredAtTooOld)
		}
		if n := e.TableRows("events"); n != 1 {
			t.Errorf("%d events recorded, want only the shipment at the window's start", n)
		}
		if p := e.Points("C1"); p.Balance != 100 {
			t.Errorf("C1 holds %d points, want the 100 of S1 untouched by the refused refund", p.Balance)
		}
		e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "10", windowStart))
		e.MustProcess(rating(windowStart))
		// 100 earned, 10 taken back by the refund of 10 of 100 CNY, 10 for the rating.
		if p := e.Points("C1"); p.Balance != 100 {
			t.Errorf("C1 holds %d points, want 100 - 10 + 10", p.Balance)
		}
		e.Reconcile()
	})
}

// In a batch an event dated too far back fails alone: the events around it
// are recorded.
func TestABatchRefusesOnlyItsEventDatedBeforeTheWindow(t *testing.T) {
	eachEventPath(t, func(t *testing.T, e *env) {
		e.Customer("C1")
		e.Customer("C2")
		out := e.ProcessBatch(e.Key, []loyalty.Event{
			e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", windowStart),
			e.Event(loyalty.ShipmentCompleted, "C1", "S2", "100", windowStart.Add(-time.Microsecond)),
			e.Event(loyalty.ShipmentCompleted, "C2", "S3", "100", march(15, 11)),
			e.Event(loyalty.ShipmentRefunded, "C1", "S1", "10", windowStart.Add(-time.Hour)),
			e.Event(loyalty.ShipmentRefunded, "C1", "S1", "10", windowStart.Add(time.Hour)),
		})
		for i, wantCode := range []fault.Code{"", fault.OccurredAtTooOld, "", fault.OccurredAtTooOld, ""} {
			if got := fault.CodeOf(out[i].Err); got != wantCode {
				t.Errorf("event %d: %q (%v), want %q", i, got, out[i].Err, wantCode)
			}
		}
		var shipments []string
		e.Scan(t, `SELECT array_agg(shipment_id ORDER BY shipment_id) FROM shipments`, &shipments)
		if len(shipments) != 2 || shipments[0] != "S1" || shipments[1] != "S3" {
			t.Errorf("shipments %v, want S1 and S3", shipments)
		}
		if n := e.TableRows("events"); n != 3 {
			t.Errorf("%d events recorded, want 3", n)
		}
		e.Reconcile()
	})
}

// The window is the one of the version in effect when the event is
// recorded, never the one of the version its occurred_at falls in: dating
// an event into an older version with a wider window reaches no further.
func TestTheBackdatingWindowIsTheOneInEffectWhenRecorded(t *testing.T) {
	t.Run("NarrowerNowRefusesWhatTheOlderVersionWouldAccept", func(t *testing.T) {
		eachEventPath(t, func(t *testing.T, e *env) {
			e.Customer("C1")
			e.putVersion2(switchAt, func(rs *rules.RuleSet) { rs.BackdatingDays = 1 })
			now := switchAt.Add(time.Hour)
			e.Clock.Set(now)
			// Two days back is in version 1 (window 60 days), recorded under
			// version 2 (window 1 day).
			_, err := e.Process(e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", now.Add(-48*time.Hour)))
			servicetest.WantCode(t, err, fault.OccurredAtTooOld)
			_, err = e.Process(e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", now.Add(-24*time.Hour-time.Microsecond)))
			servicetest.WantCode(t, err, fault.OccurredAtTooOld)
			res := e.Ship("C1", "S1", "100", now.Add(-24*time.Hour)) // the window's first instant
			if res.RuleVersion != 1 {
				t.Errorf("priced by version %d, want 1, in effect when it occurred", res.RuleVersion)
			}
			e.Reconcile()
		})
	})
	t.Run("WiderNowAcceptsWhatVersion1Refused", func(t *testing.T) {
		eachEventPath(t, func(t *testing.T, e *env) {
			e.Customer("C1")
			e.putVersion2(switchAt, func(rs *rules.RuleSet) { rs.BackdatingDays = 100 })
			hundredDaysBack := switchAt.Add(time.Hour - 100*24*time.Hour)
			// Recorded before the switch, under version 1's 60 days.
			_, err := e.Process(e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", hundredDaysBack))
			servicetest.WantCode(t, err, fault.OccurredAtTooOld)
			e.Clock.Set(switchAt.Add(time.Hour))
			if res := e.Ship("C1", "S1", "100", hundredDaysBack); res.RuleVersion != 1 {
				t.Errorf("priced by version %d, want 1, in effect when it occurred", res.RuleVersion)
			}
			e.Reconcile()
		})
	})
}

// A retry of an event recorded within the window answers what was recorded,
// however late it comes; a new event of the same date is refused.
func TestARetryAfterTheWindowHasPassedIsReplayed(t *testing.T) {
	eachEventPath(t, func(t *testing.T, e *env) {
		e.Customer("C1")
		ship := e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(15, 11))
		refund := e.Event(loyalty.ShipmentRefunded, "C1", "S1", "10", march(15, 11))
		first := []loyalty.Result{e.MustProcess(ship), e.MustProcess(refund)}
		e.Clock.Add(61 * 24 * time.Hour)
		for i, ev := range []loyalty.Event{ship, refund} {
			o := e.ProcessAs(e.Key, ev)
			if o.Err != nil || !o.Replayed || o.Result.EntryID == nil || *o.Result.EntryID != *first[i].EntryID {
				t.Errorf("%s retried: replayed %v, %+v, %v; want the first answer replayed", ev.Type, o.Replayed, o.Result, o.Err)
			}
		}
		_, err := e.Process(e.Event(loyalty.ShipmentCompleted, "C1", "S2", "100", march(15, 11)))
		servicetest.WantCode(t, err, fault.OccurredAtTooOld)
		e.Reconcile()
	})
}
