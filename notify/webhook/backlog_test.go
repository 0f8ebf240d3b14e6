package webhook_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// TestFeedBacklogCountsWhatTheDispatcherHasNotReached: the backlog gauge
// counts the notifications committed past the dispatcher's place in the
// feed, heard by an endpoint or not, and falls to 0 once a step has fanned
// them out.
func TestFeedBacklogCountsWhatTheDispatcherHasNotReached(t *testing.T) {
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{}, "points.earned")
	backlog := func() float64 {
		t.Helper()
		return gauges(t, s)["tally_webhook_feed_backlog"]
	}
	if n := backlog(); n != 0 {
		t.Fatalf("backlog %v before any notification, want 0", n)
	}
	for i := range 5 {
		f.emit(earned(fmt.Sprint("C", i), "1"))
	}
	f.emit(notify.Event{Type: notify.PointsExpired, Customer: "C9", Payload: map[string]any{"points": "3"}})
	if n := backlog(); n != 6 {
		t.Errorf("backlog %v with six notifications written, want 6", n)
	}
	step(t, s)
	if n := backlog(); n != 0 {
		t.Errorf("backlog %v after a step, want 0", n)
	}
	if n := len(r.requests()); n != 5 {
		t.Errorf("the endpoint got %d requests, want the 5 points.earned", n)
	}
	f.emit(earned("C1", "2"), earned("C2", "2"))
	if n := backlog(); n != 2 {
		t.Errorf("backlog %v with two more, want 2", n)
	}
}
