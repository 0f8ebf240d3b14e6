package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify/webhook"
)

// TestACircuitOpensAfterBreakAfterFailuresInARowWhateverThePages: the
// circuit opens at the BreakAfter-th failure in a row, counting the
// failures recorded before a page as well as those in it, whether the
// notifications are queued first or sent straight from the feed: a
// failing endpoint gets BreakAfter requests, then nothing until its probe.
func TestACircuitOpensAfterBreakAfterFailuresInARowWhateverThePages(t *testing.T) {
	for _, queueFirst := range []bool{true, false} {
		t.Run(fmt.Sprint("queue first: ", queueFirst), func(t *testing.T) {
			f := newFixture(t)
			f.cfg.PerEndpoint, f.cfg.QueueFirst = 1, queueFirst // one request at a time: each failure is recorded before the next
			s := f.service()
			r := newReceiver(t)
			r.set("fail")
			f.subscribe(s, r, webhook.Owner{})
			f.emit(earned("C1", "1"), earned("C2", "1")) // BreakAfter-1 failures
			for step(t, s) > 0 {
			}
			for i := range 5 {
				f.emit(earned(fmt.Sprint("D", i), "1"))
			}
			for step(t, s) > 0 {
			}
			if n := len(r.requests()); n != f.cfg.BreakAfter {
				t.Errorf("the failing endpoint got %d requests before its circuit opened, want BreakAfter = %d", n, f.cfg.BreakAfter)
			}
		})
	}
}

// TestAnEndpointDeletedWhileAPageIsRecordedGetsNothingAndHoldsNothingBack:
// an endpoint deleted while the page that was sent to it is being recorded
// loses its deliveries; the page is recorded for the others all the same,
// once: the step does not fail, and the healthy endpoint's notification is
// not sent again.
func TestAnEndpointDeletedWhileAPageIsRecordedGetsNothingAndHoldsNothingBack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := f.service()
	gone, healthy := newReceiver(t), newReceiver(t)
	e := f.subscribe(s, gone, webhook.Owner{})
	h := f.subscribe(s, healthy, webhook.Owner{})
	f.emit(earned("C1", "1"))
	// The partner's delete, under way while the page is sent and recorded.
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Step(ctx)
		done <- err
	}()
	// The page's record waits for the delete's lock on the endpoint (the
	// only lock anything in the test's database can wait for).
	for wait := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the step ended (%v) before the delete committed: the page's record did not wait for it", err)
		default:
		}
		if time.Now().After(wait) {
			t.Fatal("the page's record never waited for the delete")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("the step whose page met the delete failed: %v", err)
	}
	step(t, s) // at once: the feed is not held back by the page that met the delete
	if n := f.count("endpoint_id = $1 AND status = 'delivered'", h.ID); n != 1 {
		t.Errorf("right after, %d deliveries to the healthy endpoint delivered, want 1", n)
	}
	f.clock.add(time.Hour) // past any lease on the feed
	step(t, s)
	if n := len(healthy.requests()); n != 1 {
		t.Errorf("the healthy endpoint got the notification %d times, want once", n)
	}
	if n := f.count("endpoint_id = $1 AND status = 'delivered'", h.ID); n != 1 {
		t.Errorf("%d deliveries to the healthy endpoint delivered, want 1", n)
	}
	if n := f.count("endpoint_id = $1", e.ID); n != 0 {
		t.Errorf("%d deliveries to the deleted endpoint, want none", n)
	}
}

// TestAPagesRequestsInFlightCountAgainstWorkers: a process has at most
// Workers requests in flight, counting those of a page still in flight
// after its budget: the step that recorded the page does not claim more
// beside them.
func TestAPagesRequestsInFlightCountAgainstWorkers(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.Timeout = 2, time.Minute // the held requests wait for the test
	s := f.service()
	r := newReceiver(t)
	r.set("held")
	for range 3 { // three admin endpoints: three owners, each with room
		f.subscribe(s, r, webhook.Owner{})
	}
	f.emit(earned("C1", "1"))
	done := make(chan error, 1)
	go func() {
		_, err := s.Step(context.Background())
		done <- err
	}()
	held := 0
	defer func() {
		for range held {
			r.release <- http.StatusOK
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for held < f.cfg.Workers+1 {
		select {
		case <-r.arrived:
			held++
		case err := <-done: // the step is over with Workers requests held at most
			done <- err
			if held != f.cfg.Workers {
				t.Errorf("the step ended with %d requests held, want Workers = %d", held, f.cfg.Workers)
			}
			return
		case <-time.After(time.Minute):
			t.Fatalf("after a minute, %d requests held and the step not over", held)
		}
	}
	t.Errorf("%d requests in flight at once, want Workers = %d at most", held, f.cfg.Workers)
}

// TestRunEndsOnlyOnceThePagesRequestsInFlightAreRecorded: when its context
// ends, Run waits for the requests it has in flight, each bounded by the
// client's timeout, and records them: those of a page sent straight from
// the feed as well as the queue's, so that a process that stops does not
// leave them to be sent again.
func TestRunEndsOnlyOnceThePagesRequestsInFlightAreRecorded(t *testing.T) {
	f := newFixture(t)
	f.cfg.Timeout, f.cfg.Poll = time.Minute, 10*time.Millisecond // the held request waits for the test
	s := f.service()
	r := newReceiver(t)
	r.set("held")
	f.subscribe(s, r, webhook.Owner{})
	f.emit(earned("C1", "1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() { s.Run(ctx, func(err error) { t.Error(err) }); close(ran) }()
	<-r.arrived
	for wait := time.Now().Add(time.Minute); f.count("status = 'pending' AND lease IS NOT NULL") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the page was never recorded with its request in flight")
		}
	}
	cancel()
	select {
	case <-ran:
		t.Error("Run ended while the page's request was in flight, unrecorded")
	case <-time.After(2 * time.Second): // Run waits for it, as it should
	}
	r.release <- http.StatusOK
	<-ran
	if n := f.count("status = 'delivered'"); n != 1 {
		t.Errorf("%d deliveries delivered once Run ended, want the page's 1", n)
	}
}

// TestACustomersNextNotificationWaitsForItsRequestInFlightAtThePagesCut: a
// request still in flight when its page is recorded holds the customer's
// next notification, in the next page, back until it is accepted.
func TestACustomersNextNotificationWaitsForItsRequestInFlightAtThePagesCut(t *testing.T) {
	f := newFixture(t)
	f.cfg.Timeout = time.Minute // the held request waits for the test
	s := f.service()
	r := newReceiver(t)
	r.set("held")
	f.subscribe(s, r, webhook.Owner{})
	f.emit(earned("C1", "1"))
	step(t, s) // the page is cut with its request held
	<-r.arrived
	f.emit(earned("C1", "2"), earned("C2", "1"))
	r.set("ok")
	if n := step(t, s); n != 1 {
		t.Errorf("the next page sent %d requests, want C2's only", n)
	}
	for _, q := range r.requests() {
		if strings.Contains(string(q.body), `"points":"2"`) {
			t.Fatal("C1's second notification was sent while its first was in flight")
		}
	}
	r.release <- http.StatusOK
	for wait := time.Now().Add(time.Minute); f.count("customer_id = 'C1' AND status = 'delivered'") < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("C1's first notification was never recorded as delivered")
		}
	}
	step(t, s)
	if n := f.count("status = 'delivered'"); n != 3 {
		t.Errorf("%d deliveries delivered, want 3", n)
	}
}

// TestTwoDispatchersDeliverEverythingInOrderPerCustomer: two processes run
// the dispatcher on one database while notifications are written, against
// a receiver that fails some requests at first and holds others past the
// client's timeout: every notification is accepted by each endpoint, and
// no request for a customer's notification arrives before each earlier
// one of the customer was accepted by that endpoint.
func TestTwoDispatchersDeliverEverythingInOrderPerCustomer(t *testing.T) {
	f := newFixture(t)
	f.cfg.Now = func() time.Time { return time.Now().UTC() } // the real clock: backoffs, leases and budgets pass by themselves
	f.cfg.Backoff = func(attempt int) time.Duration { return time.Duration(attempt) * 20 * time.Millisecond }
	f.cfg.CoolDown, f.cfg.Poll, f.cfg.Timeout = 50*time.Millisecond, 10*time.Millisecond, 300*time.Millisecond
	f.cfg.PerEndpoint, f.cfg.Workers = 4, 8
	type event struct {
		path, id string
		accepted bool
	}
	var (
		mu    sync.Mutex
		log   []event
		tries = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server sees the client give up
		id := r.Header.Get("webhook-id")
		seq, _ := strconv.Atoi(strings.TrimPrefix(id, "ntf_"))
		mu.Lock()
		key := r.URL.Path + id
		tries[key]++
		try := tries[key]
		log = append(log, event{path: r.URL.Path, id: id})
		ok := seq%5 != 0 || try > 2    // every fifth fails twice first
		hang := seq%7 == 0 && try == 1 // every seventh is held past the timeout first
		if ok && !hang {
			log = append(log, event{path: r.URL.Path, id: id, accepted: true})
		}
		mu.Unlock()
		switch {
		case hang:
			<-r.Context().Done()
		case ok:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	s1, s2 := f.service(), f.service()
	for _, path := range []string{"/a", "/b"} {
		if _, _, err := s1.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: srv.URL + path, Types: []string{"points.earned"}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs sync.WaitGroup
	for _, s := range []*webhook.Service{s1, s2} {
		runs.Add(1)
		go func() { defer runs.Done(); s.Run(ctx, func(err error) { t.Error(err) }) }()
	}
	const writers, each = 3, 250
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i += 2 {
				f.emit(earned(fmt.Sprint("C", (w*each+i)%17), "1"), earned(fmt.Sprint("C", (w*each+i+1)%17), "2"))
			}
		}()
	}
	wg.Wait()
	total := 2 * writers * each
	for wait := time.Now().Add(3 * time.Minute); f.count("status = 'delivered'") < total; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("%d of %d deliveries delivered after 3 minutes (%d rows)", f.count("status = 'delivered'"), total, f.count("true"))
		}
	}
	cancel()
	runs.Wait()
	srv.Close()
	feed := f.feed()
	rank := map[string]int{}
	customer := map[string]string{}
	per := map[string]int{}
	for _, n := range feed {
		rank[n.ID()], customer[n.ID()] = per[n.Customer], n.Customer
		per[n.Customer]++
	}
	upTo := map[string]int{} // endpoint and customer: how many accepted, in order
	accepted := map[string]bool{}
	mu.Lock()
	defer mu.Unlock()
	violations := 0
	for _, e := range log {
		c, ok := customer[e.id]
		if !ok {
			t.Fatalf("a request for %s, no notification of the feed", e.id)
		}
		k := e.path + " " + c
		switch {
		case e.accepted:
			accepted[e.path+e.id] = true
			if rank[e.id] == upTo[k] {
				upTo[k]++
			}
		case rank[e.id] > upTo[k]:
			if violations++; violations <= 5 {
				t.Errorf("%s: %s (customer %s, #%d) arrived while #%d was not accepted", e.path, e.id, c, rank[e.id], upTo[k])
				if violations == 1 {
					f.explainOrder(e.path, c)
				}
			}
		}
	}
	if violations > 5 {
		t.Errorf("%d requests out of order in all", violations)
	}
	for _, n := range feed {
		for _, path := range []string{"/a", "/b"} {
			if !accepted[path+n.ID()] {
				t.Errorf("%s never accepted %s", path, n.ID())
			}
		}
	}
}
