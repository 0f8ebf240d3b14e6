package webhook_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// TestTheFeedMovesPastWhatNoEndpointHearsWithoutReadingIt: with no
// endpoint, the fan-out moves its place in the feed past every committed
// notification by one probe of the feed's order, not by reading each one
// and its payload (4% of PostgreSQL's statement time in a service with
// none). 5,000 notifications are skipped reading at most a few index
// entries; once an endpoint exists nothing is skipped, and the endpoint
// hears every notification that commits from then on.
func TestTheFeedMovesPastWhatNoEndpointHearsWithoutReadingIt(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.service()
	var events []notify.Event
	for i := range 5000 {
		events = append(events, earned(fmt.Sprintf("C%04d", i), "1"))
	}
	f.emit(events...)
	feed := f.feed()
	last := feed[len(feed)-1].Position.String()
	err := f.l.InTx(ctx, func(tx *ledger.Tx) error {
		var before int64
		read := func() (n int64) {
			if err := tx.QueryRow(ctx, `SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid) + pg_stat_get_xact_tuples_returned(indrelid))
FROM pg_index WHERE indrelid = 'notifications'::regclass`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before = read()
		next, ok, err := s.SkipUnheardInTx(ctx, tx, "0")
		if err != nil {
			return err
		}
		if !ok || next != last {
			t.Errorf("skipped to %q (%t), want past the last notification, %q", next, ok, last)
		}
		if n := read() - before; n > 5 {
			t.Errorf("skipping 5,000 notifications read %d rows and index entries of notifications, want a few", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	step(t, s)
	if n := gauges(t, s)["tally_webhook_feed_backlog"]; n != 0 {
		t.Errorf("backlog %v after a step with no endpoint, want 0", n)
	}
	r := newReceiver(t)
	e := f.subscribe(s, r, webhook.Owner{}, "points.earned")
	f.emit(earned("C1", "2"), earned("C2", "3"))
	if err := f.l.InTx(ctx, func(tx *ledger.Tx) error {
		_, ok, err := s.SkipUnheardInTx(ctx, tx, last)
		if ok {
			t.Error("with an endpoint, the notifications past the cursor were skipped")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	step(t, s)
	if n := len(r.requests()); n != 2 {
		t.Errorf("the endpoint subscribed after the skip got %d requests, want the 2 notifications since", n)
	}
	// While an endpoint exists the fan-out reads its pages without trying
	// to skip first; once none is left, a page's match says so and the
	// next fan-out skips again.
	if !s.Heard() {
		t.Error("after a page matched an endpoint, the service does not know one exists")
	}
	if err := s.Delete(ctx, webhook.Owner{}, e.ID); err != nil {
		t.Fatal(err)
	}
	f.emit(earned("C3", "4"))
	step(t, s)
	if s.Heard() {
		t.Error("after a page matched no endpoint, the service still counts on one")
	}
	f.emit(earned("C4", "5"))
	step(t, s)
	if n := gauges(t, s)["tally_webhook_feed_backlog"]; n != 0 || len(r.requests()) != 2 {
		t.Errorf("backlog %v and %d requests after the endpoint was deleted, want 0 and the 2 before", n, len(r.requests()))
	}
}
