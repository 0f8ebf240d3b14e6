package loyalty_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

// TestPreviewsRacingEventsLeaveTheBooksExact: 16 goroutines send shipments
// for four customers; for each, another goroutine previews the same event
// at the same time, and one more previews an event that is never sent.
// Project customers (February's 100,000 each) earn x2.0 whatever March
// adds, so every preview answers what its event earns, or (once the event
// is recorded) the recorded result. Afterwards only the sent events are
// recorded, each once, the balances are what they earned, and the books
// reconcile (the books check runs at the end of the test).
func TestPreviewsRacingEventsLeaveTheBooksExact(t *testing.T) {
	const workers, perWorker = 16, 6
	e := newEnv(t)
	customers := []string{"C1", "C2", "C3", "C4"}
	points := map[string]int64{}
	for i, c := range customers {
		e.Customer(c)
		e.Ship(c, fmt.Sprintf("F%d", i), "100000", march(1, 9).AddDate(0, -1, 0))
		points[c] = 100000
	}
	at := march(10, 9)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range workers {
		customer := customers[w%len(customers)]
		for i := range perWorker {
			amount := fmt.Sprintf("%d.%02d", 10+w, i)
			earned := int64(2 * (10 + w)) // floor(amount x 2.0): i/100 x 2 < 1
			ev := loyalty.Event{EventID: fmt.Sprintf("race-%d-%d", w, i), Type: loyalty.ShipmentCompleted, CustomerID: customer,
				ShipmentID: fmt.Sprintf("S-%d-%d", w, i), OccurredAt: at, Amount: ptr(d(amount))}
			never := ev
			never.EventID, never.ShipmentID = "never-"+ev.EventID, "N-"+ev.ShipmentID
			mu.Lock()
			points[customer] += earned
			mu.Unlock()
			wg.Go(func() {
				res, err := e.Process(ev)
				if err != nil || res.Points != earned || res.Preview || res.EntryID == nil {
					t.Errorf("event %s: %+v %v, want %d points recorded", ev.EventID, res, err, earned)
				}
			})
			for _, p := range []loyalty.Event{ev, never} {
				wg.Go(func() {
					o := e.Loyalty.PreviewBatch(e.Ctx, e.Key, "test", []loyalty.Event{p})[0]
					switch {
					case o.Err != nil:
						t.Errorf("preview of %s: %v", p.EventID, o.Err)
					case !o.Result.Preview || o.Result.Points != earned:
						t.Errorf("preview of %s: %+v, want %d points, marked", p.EventID, o.Result, earned)
					case o.Replayed != (o.Result.EntryID != nil):
						t.Errorf("preview of %s: replayed %v with entry %v: only a recorded event has one", p.EventID, o.Replayed, o.Result.EntryID)
					case o.Replayed && p.EventID != ev.EventID:
						t.Errorf("preview of %s replayed an event never sent", p.EventID)
					}
				})
			}
		}
	}
	wg.Wait()
	var recorded, never int
	e.Scan(t, `SELECT count(*) FILTER (WHERE event_id LIKE 'race-%'), count(*) FILTER (WHERE event_id LIKE 'never-%') FROM events`,
		&recorded, &never)
	if recorded != workers*perWorker || never != 0 {
		t.Errorf("%d events recorded and %d previewed ones, want %d and 0", recorded, never, workers*perWorker)
	}
	for _, c := range customers {
		if got := e.Points(c).Balance; got != points[c] {
			t.Errorf("%s holds %d points, want %d", c, got, points[c])
		}
	}
	e.Reconcile()
}

// A preview completes its runs of shipments together, as a group written
// for real does, so that it holds its customers' locks no longer than the
// real write would (every event alone in a savepoint held them several
// times longer); should the grouped preview fail (a panic in the group
// loader), it answers the same from every event alone. Neither writes.
func TestAPreviewIsGroupedAndFallsBackToEventByEvent(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	at := e.Clock.Now().Add(-time.Hour)
	batch := []loyalty.Event{
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "123.45", at),
		e.Event(loyalty.ShipmentCompleted, "C2", "S2", "80", at),
		e.Event(loyalty.ShipmentCompleted, "C1", "S3", "10", at),
	}
	want := []int64{123, 80, 10} // floating customers earn 1 point per whole CNY
	check := func(how string, outs []loyalty.Outcome) {
		t.Helper()
		for i, o := range outs {
			if o.Err != nil || !o.Result.Preview || o.Result.Points != want[i] || o.Result.EntryID != nil {
				t.Errorf("%s: event %d: %+v %v, want a preview of %d points", how, i, o.Result, o.Err, want[i])
			}
		}
	}
	runs := 0
	e.Loyalty.SetGroupedFault(func() { runs++ })
	check("grouped", e.Loyalty.PreviewBatch(e.Ctx, e.Key, "test", batch))
	if runs == 0 {
		t.Error("the preview completed no run of shipments together")
	}
	e.Loyalty.SetGroupedFault(func() { panic("a bug in the group loader") })
	check("after a panic in the grouped preview", e.Loyalty.PreviewBatch(e.Ctx, e.Key, "test", batch))
	if got := e.TableRows("events"); got != 0 {
		t.Errorf("%d events recorded by previews, want none", got)
	}
	for _, c := range []string{"C1", "C2"} {
		if got := e.Points(c).Balance; got != 0 {
			t.Errorf("%s holds %d points after previews, want 0", c, got)
		}
	}
}

// A batch may repeat an event (a retry inside it, or an id reused with
// another body): the event queue defers a repeat, alone, to the group after
// its original's, and the preview writes the batch in the same passes. So
// it answers every event as the real call then does (status, replay,
// points): a repeat of a recorded event replays it, and a repeat of a
// refused one (a refund, or a rating, of a shipment the batch ships after
// it) is written after the rest of the first pass, as the call writes it.
func TestAPreviewOfABatchThatRepeatsAnEventAnswersAsTheCall(t *testing.T) {
	type answer struct {
		err      string
		replayed bool
		points   int64
	}
	answers := func(outs []loyalty.Outcome) []answer {
		var a []answer
		for _, o := range outs {
			x := answer{replayed: o.Replayed, points: o.Result.Points}
			if o.Err != nil {
				x.err = fmt.Sprint(fault.CodeOf(o.Err))
			}
			a = append(a, x)
		}
		return a
	}
	for _, tc := range []struct {
		name  string
		batch func(e *env) []loyalty.Event
		want  func(real []answer) bool // what the call answers, so that the case tests what it says
	}{
		{"a retry of a recorded event, and an id reused with another body", func(e *env) []loyalty.Event {
			at := e.Clock.Now().Add(-time.Hour)
			first := e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", at)
			second := e.Event(loyalty.ShipmentCompleted, "C2", "S2", "50", at)
			reused := second
			reused.Amount = ptr(d("60"))
			return []loyalty.Event{first, first, second, first, reused, e.Event(loyalty.ShipmentCompleted, "C1", "S3", "10", at)}
		}, func(real []answer) bool { return real[1].replayed && real[1].points == 100 && real[4].err != "" }},
		{"a refused refund retried before the shipment it refunds", func(e *env) []loyalty.Event {
			at := e.Clock.Now().Add(-time.Hour)
			refund := e.Event(loyalty.ShipmentRefunded, "C1", "S1", "40", at)
			return []loyalty.Event{refund, refund, e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", at)}
		}, func(real []answer) bool { return real[0].err != "" && real[1].err == "" && real[1].points == -40 }},
		{"a refused rating retried", func(e *env) []loyalty.Event {
			at := e.Clock.Now().Add(-time.Hour)
			rating := e.Event(loyalty.FeedbackSubmitted, "C1", "S1", "", at)
			rating.Rating = ptr(5)
			return []loyalty.Event{rating, e.Event(loyalty.ShipmentCompleted, "C1", "S2", "10", at), rating,
				e.Event(loyalty.ShipmentCompleted, "C1", "S1", "20", at)}
		}, func(real []answer) bool { return real[0].err != "" && real[2].err == "" && real[2].points == 10 }},
	} {
		for _, fallback := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, fallback %v", tc.name, fallback), func(t *testing.T) {
				e := newEnv(t)
				e.Customer("C1")
				e.Customer("C2")
				if fallback { // the preview, and the call's groups, written every event alone
					e.Loyalty.SetGroupedFault(func() { panic("a bug in the group loader") })
				}
				batch := tc.batch(e)
				outs := e.Loyalty.PreviewBatch(e.Ctx, e.Key, "test", batch)
				for i, o := range outs {
					// A repeat replays what the preview itself wrote: no
					// entry of it exists, and none is answered.
					var n int
					if o.Result.EntryID != nil {
						if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM entries WHERE id = $1`, *o.Result.EntryID).Scan(&n); err != nil {
							t.Fatal(err)
						}
						if n != 1 {
							t.Errorf("preview %d answered entry %d, which does not exist", i, *o.Result.EntryID)
						}
					}
				}
				preview := answers(outs)
				real := answers(e.Loyalty.ProcessBatch(e.Ctx, e.Key, "test", batch))
				if !slices.Equal(preview, real) {
					t.Errorf("the preview answered %+v, the call then %+v", preview, real)
				}
				if !tc.want(real) {
					t.Errorf("the call answered %+v, not what the case is about", real)
				}
			})
		}
	}
}

// A preview in several passes locks every customer of its batch at once,
// in order, before its first pass, and no pass takes a lock of its own: a
// pass that locked its own customers would take C1 after the first pass
// took C2 while a real group holding C1 waits for C2 (a deadlock that cost
// the real write a retry), and so would a pass taking a customer created
// after the preview began. Such a customer is not the preview's.
func TestAPreviewInPassesTakesNoCustomerAfterAnother(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprintf("customer created during the preview %v", late), func(t *testing.T) {
			e := newEnv(t)
			e.Customer("C2")
			if !late {
				e.Customer("C1")
			}
			other := &env{servicetest.NewWith(t, servicetest.Config{Pool: e.Pool, Clock: e.Clock,
				Loyalty: []loyalty.Option{loyalty.WithEventWriters(1)}})}
			at := e.Clock.Now().Add(-time.Hour)
			// The second pass holds the id reused for C1 alone: C2 in the
			// first pass, C1 in the second.
			first := e.Event(loyalty.ShipmentCompleted, "C2", "S1", "100", at)
			reused := e.Event(loyalty.ShipmentCompleted, "C1", "S2", "100", at)
			reused.EventID = first.EventID
			holding, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			e.Loyalty.SetGroupedFault(func() { once.Do(func() { close(holding); <-release }) })
			previewed := make(chan []loyalty.Outcome)
			go func() { previewed <- e.Loyalty.PreviewBatch(e.Ctx, e.Key, "test", []loyalty.Event{first, reused}) }()
			<-holding // the preview's first pass is writing C2's shipment
			if late {
				e.Customer("C1")
			}
			written := make(chan []loyalty.Outcome)
			go func() {
				written <- other.Loyalty.ProcessBatch(other.Ctx, other.Key, "test", []loyalty.Event{
					other.Event(loyalty.ShipmentCompleted, "C1", "R1", "10", at), other.Event(loyalty.ShipmentCompleted, "C2", "R2", "10", at)})
			}()
			// The real group waits on a customer's lock (held by the
			// preview; without the lock at once, C2, while holding C1).
			if e.LockWaitersWithin(30*time.Second, 1) == 0 {
				t.Fatal("the real group never waited on a lock")
			}
			close(release)
			if p := <-previewed; p[0].Err != nil || fault.CodeOf(p[1].Err) != fault.IdempotencyConflict {
				t.Errorf("the preview answered %v and %v, want the shipment and the reused id refused", p[0].Err, p[1].Err)
			}
			for i, o := range <-written {
				if o.Err != nil {
					t.Errorf("real event %d: %v", i, o.Err)
				}
			}
			if n, m := other.Ledger.Stats().Retries.Load(), e.Ledger.Stats().Retries.Load(); n+m != 0 {
				t.Errorf("the real write was retried %d times and the preview %d (a deadlock), want 0", n, m)
			}
		})
	}
}
