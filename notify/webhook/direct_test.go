package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify/webhook"
)

// TestASlowEndpointHoldsAPageBackByItsBudgetAtMost: sent straight from the
// feed, a page is recorded once its sends have ended or its budget has
// passed, not when a slow endpoint answers: the healthy endpoint's
// notifications are delivered and recorded while the slow one holds its
// requests (as many as its bound), which are leased deliveries by then and
// are recorded as delivered once answered; the slow one's others wait in
// the queue and go at the next step.
func TestASlowEndpointHoldsAPageBackByItsBudgetAtMost(t *testing.T) {
	f := newFixture(t)
	f.cfg.PerEndpoint, f.cfg.Timeout = 2, time.Minute // the held requests wait for the test
	s := f.service()
	slow, healthy := newReceiver(t), newReceiver(t)
	slow.set("held")
	f.subscribe(s, slow, webhook.Owner{}) // endpoint 1
	f.subscribe(s, healthy, webhook.Owner{})
	const customers = 6
	for i := range customers {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	if n := step(t, s); n != customers+2 {
		t.Errorf("the step sent %d requests, want %d to the healthy endpoint and 2 to the slow one", n, customers+2)
	}
	if n := len(healthy.requests()); n != customers {
		t.Errorf("the healthy endpoint got %d requests, want %d", n, customers)
	}
	for where, want := range map[string]int{
		"endpoint_id = 2 AND status = 'delivered' AND attempts = 1":       customers,
		"endpoint_id = 1 AND status = 'pending' AND lease IS NOT NULL":    2,
		"endpoint_id = 1 AND status = 'pending' AND lease IS NULL":        customers - 2,
		"endpoint_id = 1 AND status = 'pending' AND attempts = 0":         customers,
		"endpoint_id = 1 AND status = 'pending' AND next_attempt_at > $1": 0,
	} {
		var args []any
		if strings.Contains(where, "$1") {
			args = append(args, f.clock.now())
		}
		if n := f.count(where, args...); n != want {
			t.Errorf("deliveries %s: %d, want %d", where, n, want)
		}
	}
	slow.release <- http.StatusOK
	slow.release <- http.StatusOK
	for wait := time.Now().Add(time.Minute); f.count("endpoint_id = 1 AND status = 'delivered'") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(wait) { // the sends record themselves: a minute is plenty
			t.Fatal("the slow endpoint's two answered requests were never recorded as delivered")
		}
	}
	slow.set("ok")
	sent := 0
	for range customers { // two at a time: the slow endpoint's bound
		sent += step(t, s)
	}
	if sent != customers-2 {
		t.Errorf("the next steps sent %d, want the slow endpoint's %d others", sent, customers-2)
	}
	if n := f.count("status = 'delivered' AND attempts = 1"); n != 2*customers {
		t.Errorf("%d deliveries delivered at their first attempt, want %d", n, 2*customers)
	}
	var logged int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_attempts WHERE status_code = 200`).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != 2*customers {
		t.Errorf("%d attempts logged as answered 200, want %d", logged, 2*customers)
	}
}

// TestAPageRecordedAfterItsLeaseIsSentAgainUnderTheSameIDs: a process whose
// lease on the feed ended while it sent a page (another may have taken the
// feed) records nothing of it; the page is sent again, each notification
// under the same webhook-id, and recorded once.
func TestAPageRecordedAfterItsLeaseIsSentAgainUnderTheSameIDs(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var ids []string
	stolen := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get("webhook-id"))
		if !stolen { // another process takes the feed while this page is sent
			stolen = true
			if _, err := f.pool.Exec(context.Background(), `UPDATE webhook_feed SET lease = 42`); err != nil {
				t.Error(err)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s := f.service()
	if _, _, err := s.Create(context.Background(), webhook.Owner{}, webhook.EndpointInput{URL: srv.URL + "/hook", Types: []string{"points.earned"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	if _, err := s.Step(context.Background()); err == nil || !strings.Contains(err.Error(), "lease ended") {
		t.Fatalf("the step answered %v, want the feed's lease lost", err)
	}
	if n := f.count("true"); n != 0 {
		t.Errorf("%d deliveries recorded from a page whose lease was lost, want none", n)
	}
	if _, err := f.pool.Exec(context.Background(), `UPDATE webhook_feed SET lease = NULL, lease_until = NULL`); err != nil {
		t.Fatal(err) // the other process ends without sending
	}
	if n := step(t, s); n != 3 {
		t.Errorf("the step after sent %d, want the page's 3 again", n)
	}
	mu.Lock()
	first, again := slices.Clone(ids[:3]), slices.Clone(ids[3:])
	mu.Unlock()
	slices.Sort(first)
	slices.Sort(again)
	want := []string{}
	for _, n := range f.feed() {
		want = append(want, n.ID())
	}
	slices.Sort(want)
	if !slices.Equal(first, want) || !slices.Equal(again, want) {
		t.Errorf("sent %v, then %v; want the feed's ids %v both times", first, again, want)
	}
	if n := f.count("status = 'delivered'"); n != 3 {
		t.Errorf("%d deliveries delivered, want 3", n)
	}
}

// TestAFeedLeasedByADeadProcessIsTakenOverWhenItsLeaseEnds: while another
// process's lease on the feed lasts, a step sends nothing of it; once the
// lease has ended (the process died while sending), the next step sends
// the page.
func TestAFeedLeasedByADeadProcessIsTakenOverWhenItsLeaseEnds(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{})
	f.emit(earned("C1", "1"), earned("C2", "1"))
	if _, err := f.pool.Exec(context.Background(), `UPDATE webhook_feed SET lease = 7, lease_until = $1`, f.clock.now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := step(t, s); n != 0 || len(r.requests()) != 0 {
		t.Errorf("a step under another's lease sent %d, the receiver got %d; want none", n, len(r.requests()))
	}
	f.clock.add(time.Minute)
	if n := step(t, s); n != 2 || len(r.requests()) != 2 {
		t.Errorf("a step after the lease sent %d, the receiver got %d; want 2", n, len(r.requests()))
	}
}
