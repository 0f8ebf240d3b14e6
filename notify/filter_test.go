package notify_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/notifytest"
)

// TestAFilteredFeedMovesItsCursorPastWhatItSkipped: a reader of one type
// (or a partner) gets, with each page, the cursor past every notification
// the call read, those the filter left out included, so that polling again
// reads only what is new instead of scanning the feed from the old cursor
// every time; one call reads at most FeedScanMax notifications (a page may
// be short before the end); a walk that follows the cursors until they
// stop moving sees every match exactly once.
func TestAFilteredFeedMovesItsCursorPastWhatItSkipped(t *testing.T) {
	ctx := context.Background()
	l := ledger.New(testdb.Pool(t))
	emit := func(events ...notify.Event) {
		t.Helper()
		if err := l.InTx(ctx, func(tx *ledger.Tx) error {
			_, err := notify.Emit(ctx, tx, events...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	earned := func(n int) []notify.Event {
		out := make([]notify.Event, n)
		for i := range out {
			out[i] = notify.Event{Type: notify.PointsEarned, Customer: fmt.Sprint("C", i), Payload: map[string]any{"points": "1"}}
		}
		return out
	}
	failed := notify.Event{Type: notify.ReconciliationFailed, Payload: map[string]any{"checks": []string{"x"}}}
	rare := notify.Filter{Types: []string{notify.ReconciliationFailed}}

	emit(earned(3)...)
	page, next, err := notify.Feed(ctx, l, notify.Cursor{}, 10, rare)
	if err != nil || len(page) != 0 {
		t.Fatalf("no match: %v %v", page, err)
	}
	if end := notifytest.End(t, l); next != end {
		t.Fatalf("an empty filtered page answered cursor %v, want the feed's end %v", next, end)
	}
	// Thousands skipped in one call, the match found once.
	walk := func(from notify.Cursor) (seen []notify.Notification, calls int) {
		for cur := from; ; calls++ {
			page, n, err := notify.Feed(ctx, l, cur, 10, rare)
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, page...)
			if n == cur {
				if end := notifytest.End(t, l); cur != end {
					t.Fatalf("the walk stopped at %v, want the end %v", cur, end)
				}
				return seen, calls
			}
			cur = n
		}
	}
	emit(earned(2500)...)
	emit(failed)
	emit(earned(2)...)
	seen, calls := walk(next)
	if len(seen) != 1 || seen[0].Type != notify.ReconciliationFailed || calls != 1 {
		t.Fatalf("the walk read %v in %d calls, want the one reconciliation.failed in one", seen, calls)
	}
	// More than one call may read: the match comes in the second.
	from := notifytest.End(t, l)
	emit(earned(notify.FeedScanMax)...)
	emit(failed)
	page, next, err = notify.Feed(ctx, l, from, 10, rare)
	if err != nil || len(page) != 0 || next == from {
		t.Fatalf("a call past %d others: %d notifications, cursor %v (from %v), %v; want none and a cursor moved",
			notify.FeedScanMax, len(page), next, from, err)
	}
	again, calls := walk(next)
	if len(again) != 1 || calls != 1 {
		t.Fatalf("then: %v in %d calls, want the match in one", again, calls)
	}
	// A full page still stops at its last notification.
	emit(failed, failed, failed)
	emit(earned(1)...)
	all, _ := notifytest.Read(t, l, again[0].Position)
	page, next, err = notify.Feed(ctx, l, again[0].Position, 2, rare)
	if err != nil || len(page) != 2 || next != page[1].Position || next != all[len(all)-3].Position {
		t.Fatalf("a full page: %d notifications, cursor %v, %v", len(page), next, err)
	}
}
