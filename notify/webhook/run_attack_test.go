package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify/webhook"
)

// peakReceiver accepts every request after a short while and remembers
// the most it held at once.
type peakReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	now, peak int
}

func newPeakReceiver(t *testing.T, hold time.Duration) *peakReceiver {
	r := &peakReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.now++
		r.peak = max(r.peak, r.now)
		r.mu.Unlock()
		time.Sleep(hold)
		r.mu.Lock()
		r.now--
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *peakReceiver) max() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak
}

// TestRunSendsAtMostWorkersAtOnceWhileChaining: Config.Workers is how many
// sends Run has in flight at once. A record both chains each accepted
// customer's next notification and claims for the slots the batch freed:
// the chained sends take those slots too, and must not come on top.
func TestRunSendsAtMostWorkersAtOnceWhileChaining(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.Batch, f.cfg.Poll, f.cfg.QueueFirst = 4, 4, 20*time.Millisecond, true
	s := f.service()
	r := newPeakReceiver(t, 30*time.Millisecond)
	if _, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: []string{"points.earned"}}); err != nil {
		t.Fatal(err)
	}
	const customers, each = 16, 8
	f.emitQueues(customers, each)
	stop := run(t, s)
	f.waitDelivered(customers*each, 2*time.Minute)
	stop()
	if p := r.max(); p > f.cfg.Workers {
		t.Errorf("%d requests in flight at once, want at most Workers = %d", p, f.cfg.Workers)
	}
}

// orderReceiver answers 500 to the first request of every fifth
// notification of a customer and 200 otherwise, and notes, per customer,
// requests in flight at once and the notifications accepted in the order
// they were.
type orderReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	inFlight map[string]int
	overlap  []string
	tried    map[string]bool  // webhook-ids failed once
	accepted map[string][]int // by customer, points in the order accepted
}

func newOrderReceiver(t *testing.T) *orderReceiver {
	r := &orderReceiver{inFlight: map[string]int{}, tried: map[string]bool{}, accepted: map[string][]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var env struct {
			Customer string `json:"customer_id"`
			Data     struct {
				Points string `json:"points"`
			} `json:"data"`
		}
		if err := json.NewDecoder(req.Body).Decode(&env); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var p int
		fmt.Sscan(env.Data.Points, &p)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.inFlight[env.Customer]++
		if r.inFlight[env.Customer] > 1 {
			r.overlap = append(r.overlap, fmt.Sprintf("%s's %d", env.Customer, p))
		}
		fail := p%5 == 0 && !r.tried[id]
		r.tried[id] = true
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
		r.mu.Lock()
		r.inFlight[env.Customer]--
		if !fail {
			r.accepted[env.Customer] = append(r.accepted[env.Customer], p)
		}
		r.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestTwoRunsKeepEachCustomersOrderThroughFailuresAndPages: two Runs on
// one database, sending pages straight from the feed while notifications
// are written and chaining the queue's, with every fifth notification of
// a customer failed once (retried at once): each customer's notifications
// are accepted in order (a duplicate may follow, never a later one before
// an earlier), never two of a customer in flight at once.
func TestTwoRunsKeepEachCustomersOrderThroughFailuresAndPages(t *testing.T) {
	for _, queued := range []bool{false, true} {
		t.Run(fmt.Sprint("QueueFirst=", queued), func(t *testing.T) { twoRunsKeepOrder(t, queued) })
	}
}

func twoRunsKeepOrder(t *testing.T, queueFirst bool) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.Poll, f.cfg.BreakAfter, f.cfg.QueueFirst = 6, 10*time.Millisecond, 1000, queueFirst
	f.cfg.Backoff = func(int) time.Duration { return 0 }
	r := newOrderReceiver(t)
	if _, _, err := f.service().Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: []string{"points.earned"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs sync.WaitGroup
	for range 2 {
		s := f.service()
		runs.Add(1)
		go func() { defer runs.Done(); s.Run(ctx, func(err error) { t.Error(err) }) }()
	}
	const customers, each = 5, 60
	var writers sync.WaitGroup
	for c := range customers {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range each {
				f.emit(earned(fmt.Sprint("C", c), fmt.Sprint(i+1)))
			}
		}()
	}
	writers.Wait()
	for deadline := time.Now().Add(2 * time.Minute); f.count("status = 'delivered'") < customers*each; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered in two minutes", f.count("status = 'delivered'"), customers*each)
		}
	}
	cancel()
	runs.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.overlap) > 0 {
		t.Errorf("sent while the customer's earlier one was in flight: %v", r.overlap)
	}
	for c := range customers {
		got, last := r.accepted[fmt.Sprint("C", c)], 0
		for _, p := range got {
			if p > last+1 {
				t.Errorf("C%d: %d accepted after %d: out of order (%v)", c, p, last, got)
				break
			}
			last = max(last, p)
		}
		if last != each {
			t.Errorf("C%d: last accepted %d, want %d", c, last, each)
		}
	}
}

// TestRunRefillsAnOwnersRoomWithoutWaitingForThePoll: one endpoint, its
// room (PerEndpoint) smaller than the workers, many customers with one
// queued notification each. A claim comes back short (the owner's room),
// and no accepted send has a next to chain: the room each send frees must
// still be claimed again at once, as Run did before it chained, not at
// the next poll (120 notifications, 4 a poll: half a minute).
func TestRunRefillsAnOwnersRoomWithoutWaitingForThePoll(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.PerEndpoint, f.cfg.Poll, f.cfg.QueueFirst = 8, 4, time.Second, true
	s := f.service()
	r := newPeakReceiver(t, 5*time.Millisecond)
	if _, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: []string{"points.earned"}}); err != nil {
		t.Fatal(err)
	}
	const customers = 120
	for c := range customers {
		f.emit(earned(fmt.Sprint("C", c), "1"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() { s.Run(ctx, func(err error) { t.Error(err) }); close(ran) }()
	defer func() { cancel(); <-ran }()
	began := time.Now()
	for deadline := began.Add(10 * time.Second); f.count("status = 'delivered'") < customers; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered in 10 s, at most %d at once", f.count("status = 'delivered'"), customers, f.cfg.PerEndpoint)
		}
	}
	t.Logf("%d delivered in %v", customers, time.Since(began))
	if p := r.max(); p > f.cfg.PerEndpoint {
		t.Errorf("%d requests in flight at once, want at most PerEndpoint = %d", p, f.cfg.PerEndpoint)
	}
}

// TestRunChainsWithinTheOwnersRoomAndShutsDownRecordingEverything: a
// partner's room (PerEndpoint) bounds its sends in flight while its
// customers' queues are chained; and a Run stopped in the middle of
// them records every send it started: no delivery is left leased.
func TestRunChainsWithinTheOwnersRoomAndShutsDownRecordingEverything(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.PerEndpoint, f.cfg.Poll, f.cfg.QueueFirst = 8, 2, 10*time.Millisecond, true
	s := f.service()
	r := newPeakReceiver(t, 3*time.Millisecond)
	if _, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: r.srv.URL + "/hook", Types: []string{"points.earned"}}); err != nil {
		t.Fatal(err)
	}
	const customers, each = 6, 60
	f.emitQueues(customers, each)
	stop := run(t, s)
	f.waitDelivered(customers*each/2, time.Minute)
	stop()
	if n := f.count("lease IS NOT NULL"); n != 0 {
		t.Errorf("%d deliveries still leased after Run returned", n)
	}
	if p := r.max(); p > f.cfg.PerEndpoint {
		t.Errorf("%d requests in flight at once, want at most PerEndpoint = %d", p, f.cfg.PerEndpoint)
	}
	// The rest goes on the next Run, in order.
	stop = run(t, s)
	f.waitDelivered(customers*each, time.Minute)
	stop()
	if n := f.count("attempts <> 1"); n != 0 {
		t.Errorf("%d deliveries not delivered at their first attempt: a send was lost or repeated", n)
	}
}

// TestRunStopsChainingWhenTheCircuitOpens: customers' queues are being
// chained when the endpoint starts failing; once its circuit is open
// (before its cool-down ends, the clock frozen) no chain or claim sends to
// it any more: what was in flight when it opened, Workers at most, ends,
// and nothing follows.
func TestRunStopsChainingWhenTheCircuitOpens(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.Poll, f.cfg.QueueFirst = 4, 10*time.Millisecond, true
	s := f.service()
	r := newReceiver(t)
	e := f.subscribe(s, r, webhook.Owner{})
	// With the clock frozen, a customer whose send failed waits for its
	// retry for good: each customer fails once after the endpoint starts
	// failing (each gets one more notification then, should its queue
	// have been all delivered by a test slow to switch). A send the
	// receiver accepted before that (Workers at most, in flight then) may
	// be recorded after failures: a 2xx starts the count again and closes
	// the circuit, even an open one
	// (TestRunALateSuccessClosesTheOpenCircuitAgain), and failures before
	// it in the same record never count. So three failures in a row are
	// not enough. Before each late success the count stays below
	// BreakAfter (2 failures) until the circuit opens or the success is
	// recorded, and the failures recorded from then on up to it were in
	// flight with it (Workers - 1 at most): Workers × (BreakAfter - 1 +
	// Workers - 1) + BreakAfter - 1 = 22 failures can leave the circuit
	// closed (with 12 customers, three late successes could). With more
	// customers, BreakAfter failures follow the last late success, and
	// the circuit, once it is open with every accepted send recorded,
	// stays open.
	const customers, each = 24, 10
	f.emitQueues(customers, each)
	defer run(t, s)()
	f.waitDelivered(20, time.Minute)
	r.set("fail")
	accepted := r.accepted() // none is accepted after set
	f.emitQueues(customers, 1)
	open := func() bool {
		var circuit string
		var late int // accepted sends not recorded yet
		if err := f.pool.QueryRow(context.Background(), `SELECT (SELECT circuit FROM webhook_endpoints WHERE id = $1),
    cardinality($2::text[]) - (SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
        WHERE 'ntf_' || d.notification_id = ANY ($2))`, e.ID, accepted).Scan(&circuit, &late); err != nil {
			t.Fatal(err)
		}
		// Open with no late success to come: open for good.
		return circuit == "open" && late == 0
	}
	for deadline := time.Now().Add(time.Minute); !open(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the circuit did not open for good in a minute")
		}
	}
	var failed int
	for _, q := range r.requests() {
		if q.status != http.StatusOK {
			failed++
		}
	}
	time.Sleep(300 * time.Millisecond) // 30 polls
	var after int
	for _, q := range r.requests() {
		if q.status != http.StatusOK {
			after++
		}
	}
	if after-failed > f.cfg.Workers {
		t.Errorf("%d requests after the circuit opened, want at most the %d in flight then", after-failed, f.cfg.Workers)
	}
}

// TestRunWaitsIdleWhilePagesSendsTakeEveryWorker: a page's sends still in
// flight when it was recorded (lateN) take workers; while they take them
// all, Run has nothing to claim and must wait (for a send, or the poll),
// not go round its loop without pause.
func TestRunWaitsIdleWhilePagesSendsTakeEveryWorker(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.Poll, f.cfg.Timeout = 2, 50*time.Millisecond, 10*time.Second
	s := f.service()
	r := newReceiver(t)
	r.set("held")
	f.subscribe(s, r, webhook.Owner{})
	f.emit(earned("C1", "1"))
	f.emit(earned("C2", "1"))
	defer run(t, s)()
	defer func() { r.release <- http.StatusOK; r.release <- http.StatusOK }()
	<-r.arrived
	<-r.arrived
	// The page is recorded 2 s (directBudget) after its sends began.
	for deadline := time.Now().Add(time.Minute); f.count("lease IS NOT NULL") < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the page was not recorded in a minute")
		}
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	before, began := cpu(), time.Now()
	time.Sleep(time.Second)
	used, wall := cpu()-before, time.Since(began)
	if used > wall/3 {
		t.Errorf("%v of CPU in %v while every worker was a page's: Run spins", used, wall)
	}
}

// TestRunALateSuccessClosesTheOpenCircuitAgain: a send the endpoint
// accepted before it started failing, recorded after three failures in a
// row opened its circuit, closes it again (a 2xx closes it, record), and
// the customer's next is chained. On a frozen clock, where each customer
// fails once, such late successes can so leave the circuit closed for good
// although failures followed one another: what
// TestRunStopsChainingWhenTheCircuitOpens must count with.
func TestRunALateSuccessClosesTheOpenCircuitAgain(t *testing.T) {
	f := newFixture(t)
	f.cfg.Workers, f.cfg.Poll, f.cfg.QueueFirst = 4, 10*time.Millisecond, true
	f.cfg.Timeout = time.Minute // the held requests wait for the test
	s := f.service()
	r := newReceiver(t)
	r.set("held")
	e := f.subscribe(s, r, webhook.Owner{})
	const customers = 6
	f.emitQueues(customers, 2)
	defer run(t, s)()
	defer func() { r.set("fail") }()
	circuit := func() (state string, failures int) {
		if err := f.pool.QueryRow(context.Background(), `SELECT circuit, failures FROM webhook_endpoints WHERE id = $1`, e.ID).Scan(&state, &failures); err != nil {
			t.Fatal(err)
		}
		return state, failures
	}
	failed := func() int {
		var n int
		for _, q := range r.requests() {
			if q.status != http.StatusOK {
				n++
			}
		}
		return n
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				state, n := circuit()
				t.Fatalf("%s: not in a minute (circuit %s, %d failures; %d requests failed)", what, state, n, failed())
			}
		}
	}
	// Four customers' first sends take every worker, held.
	for range 4 {
		<-r.arrived
	}
	r.set("fail")
	// One of them fails; its worker sends the two other customers' first,
	// which fail: three in a row open the circuit.
	r.release <- http.StatusInternalServerError
	waitFor("the circuit opens after three failures in a row", func() bool { s, _ := circuit(); return s == "open" })
	// Each held send, sent before the endpoint failed, is accepted now: it
	// closes the circuit, and its customer's next is sent, and fails.
	// Each success and its customer's next failure are recorded before
	// the next success is let go: the order of the records is the test's.
	recorded := func() (oks, fails int) {
		if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE status_code BETWEEN 200 AND 299),
    count(*) FILTER (WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND 299)
FROM webhook_attempts WHERE endpoint_id = $1`, e.ID).Scan(&oks, &fails); err != nil {
			t.Fatal(err)
		}
		return oks, fails
	}
	for i := range 3 {
		r.release <- http.StatusOK
		waitFor(fmt.Sprint("late success ", i+1, " and its customer's next, recorded"), func() bool {
			oks, fails := recorded()
			return failed() == 4+i && oks == i+1 && fails == 4+i
		})
	}
	waitFor("every send recorded", func() bool { return f.count("lease IS NOT NULL") == 0 })
	if state, n := circuit(); state != "closed" || n != 1 {
		t.Errorf("circuit %s with %d failures in a row, want closed with 1: the late successes came after the three failures", state, n)
	}
	if n := f.count("status = 'pending' AND attempts = 1"); n != customers {
		t.Errorf("%d customers failed once, want all %d: nothing else was due", n, customers)
	}
}
