package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

func TestEmittedNotificationsAreReadBackInOrderOnce(t *testing.T) {
	ctx := context.Background()
	l := ledger.New(testdb.Pool(t))
	emit := func(events ...notify.Event) int {
		t.Helper()
		var n int
		if err := l.InTx(ctx, func(tx *ledger.Tx) (err error) {
			n, err = notify.Emit(ctx, tx, events...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	notice := notify.Event{Type: notify.PointsExpiring, Customer: "C1", Payload: map[string]any{"points": "5"},
		OnceKey: "expiring:C1:2027-01-01:30"}
	if n := emit(notify.Event{Type: notify.PointsEarned, Customer: "C1", Payload: map[string]any{"points": "10"}}, notice); n != 2 {
		t.Fatalf("first emit wrote %d, want 2", n)
	}
	if n := emit(notice); n != 0 {
		t.Fatalf("the notice emitted again wrote %d, want 0 (once_key)", n)
	}
	emit(notify.Event{Type: notify.PrepaidLowBalance, Customer: "C2", Partner: 7, Payload: map[string]any{}})

	all, next, err := notify.Feed(ctx, l, notify.Cursor{}, 10, notify.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, n := range all {
		types = append(types, n.Type)
	}
	if len(all) != 3 || types[0] != notify.PointsEarned || types[1] != notify.PointsExpiring || types[2] != notify.PrepaidLowBalance {
		t.Fatalf("feed %v, want earned, expiring, low balance", types)
	}
	if rest, again, err := notify.Feed(ctx, l, next, 10, notify.Filter{}); err != nil || len(rest) != 0 || again != next {
		t.Fatalf("after the end: %d notifications, cursor %v (was %v), %v", len(rest), again, next, err)
	}
	// Page by one, through the cursor's text form.
	cur := notify.Cursor{}
	for i := range all {
		c, err := notify.ParseCursor(cur.String())
		if err != nil {
			t.Fatal(err)
		}
		page, n, err := notify.Feed(ctx, l, c, 1, notify.Filter{})
		if err != nil || len(page) != 1 || page[0].ID() != all[i].ID() {
			t.Fatalf("page %d: %v %v, want %s", i, page, err, all[i].ID())
		}
		cur = n
	}
	other, _, err := notify.Feed(ctx, l, notify.Cursor{}, 10, notify.Filter{Partner: 8, Types: []string{notify.PrepaidLowBalance, notify.PointsEarned}})
	if err != nil || len(other) != 1 || other[0].Type != notify.PointsEarned {
		t.Fatalf("partner 8, two types: %v %v, want the earned notice alone", other, err)
	}
	if _, err := notify.ParseCursor("12"); err == nil {
		t.Fatal("cursor 12 parsed")
	}
}

// A notification exists exactly when its transaction commits: one emitted
// in a transaction that rolls back is never read; one queued into a batch
// (Queue) is written by that batch, in its transaction.
func TestNotificationsOfARolledBackTransactionAreNeverRead(t *testing.T) {
	ctx := context.Background()
	l := ledger.New(testdb.Pool(t))
	refused := errors.New("refused after emitting")
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		if n, err := notify.Emit(ctx, tx, notify.Event{Type: notify.DepositReceived, Customer: "C1", Payload: map[string]any{"deposit_id": "lost"}}); err != nil || n != 1 {
			t.Fatalf("emit: %d, %v", n, err)
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("the transaction: %v", err)
	}
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		var b pgx.Batch
		if err := notify.Queue(&b, tx.Now(), notify.Event{Type: notify.DepositReceived, Customer: "C1",
			Payload: map[string]any{"deposit_id": "kept"}}); err != nil {
			return err
		}
		return tx.SendBatch(ctx, &b).Close()
	}); err != nil {
		t.Fatal(err)
	}
	list, _, err := notify.Feed(ctx, l, notify.Cursor{}, 10, notify.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !strings.Contains(string(list[0].Payload), `"kept"`) {
		t.Fatalf("the feed holds %d notifications (%v), want the queued one alone", len(list), list)
	}
	var b pgx.Batch
	if err := notify.Queue(&b, time.Now(), notify.Event{Type: "points.nope", Payload: map[string]any{}}); err == nil || b.Len() != 0 {
		t.Fatalf("an unknown type queued: %v, %d statements", err, b.Len())
	}
}
