// Package notifytest reads what the services announced, for their tests:
// the feed followed from a cursor to its end, as a partner reads it.
package notifytest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// Read follows the feed from after to its end, a page of 100 at a time,
// and returns what it read and the cursor at the end.
func Read(t testing.TB, l *ledger.Ledger, after notify.Cursor) ([]notify.Notification, notify.Cursor) {
	t.Helper()
	var all []notify.Notification
	for {
		page, next, err := notify.Feed(context.Background(), l, after, 100, notify.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		all, after = append(all, page...), next
		if len(page) < 100 {
			return all, after
		}
	}
}

// End is the cursor at the feed's end now.
func End(t testing.TB, l *ledger.Ledger) notify.Cursor {
	t.Helper()
	_, end := Read(t, l, notify.Cursor{})
	return end
}

// Payload decodes n's payload as JSON into a map; amounts and points stay
// strings.
func Payload(t testing.TB, n notify.Notification) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(n.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
