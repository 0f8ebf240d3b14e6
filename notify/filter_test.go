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
// (or a partner) whose page is short has read to the feed's end, and its
// next_cursor is that end, past the notifications the filter left out, so
// that polling again reads only what is new instead of scanning the feed
// from the old cursor every time; it still sees every match exactly once,
// one past thousands of others included.
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
	emit(earned(2500)...)
	emit(failed)
	emit(earned(2)...)
	var seen []notify.Notification
	for cur := next; ; {
		page, n, err := notify.Feed(ctx, l, cur, 10, rare)
		if err != nil {
			t.Fatal(err)
		}
		seen, cur = append(seen, page...), n
		if len(page) < 10 {
			if end := notifytest.End(t, l); cur != end {
				t.Fatalf("a short page answered %v, want the end %v", cur, end)
			}
			break
		}
	}
	if len(seen) != 1 || seen[0].Type != notify.ReconciliationFailed {
		t.Fatalf("the walk read %v, want the one reconciliation.failed", seen)
	}
	// A full page still stops at its last notification.
	emit(failed, failed, failed)
	emit(earned(1)...)
	all, _ := notifytest.Read(t, l, seen[0].Position)
	page, next, err = notify.Feed(ctx, l, seen[0].Position, 2, rare)
	if err != nil || len(page) != 2 || next != page[1].Position || next != all[len(all)-3].Position {
		t.Fatalf("a full page: %d notifications, cursor %v, %v", len(page), next, err)
	}
}
