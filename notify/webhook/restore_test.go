package webhook_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// Books copied into another cluster by a dump and restore keep their
// notifications' transaction ids and the dispatcher's cursor
// (webhook_feed), while the new cluster gives ids from lower (helper-154's
// finding): every notification written since sorts before the cursors, and
// the dispatcher and a partner reading on from its last cursor read nothing,
// silently, until the cluster's ids pass the old ones. A cursor ahead of
// every id this database gave is now refused: the partner is told (422
// invalid naming after), and the dispatcher's step fails, to be logged at
// every step, instead of reporting an empty feed. A cursor at the end of
// this cluster's feed is not refused.
func TestACursorAheadOfTheDatabaseIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.service()
	r := newReceiver(t)
	f.subscribe(s, r, webhook.Owner{})
	f.emit(earned("C1", "5"))
	step(t, s)
	list := f.feed()
	if len(list) != 1 || len(r.requests()) != 1 {
		t.Fatalf("before the restore: %d notifications, %d sent; want 1 and 1", len(list), len(r.requests()))
	}
	end := list[0].Position
	if got, _, err := notify.Feed(ctx, f.l, end, 100, notify.Filter{}); err != nil || len(got) != 0 {
		t.Errorf("the feed after its last notification: %d, %v; want none and no error", len(got), err)
	}
	var restored string
	if err := f.pool.QueryRow(ctx, `INSERT INTO notifications (xid, type, customer_id, occurred_at, payload)
VALUES ((pg_current_xact_id()::text::bigint + 1000000)::text::xid8, 'points.earned', 'C1', now(), '{"points":"0"}')
RETURNING xid::text || '.' || id`).Scan(&restored); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE webhook_feed SET cursor = $1`, restored); err != nil {
		t.Fatal(err)
	}
	f.emit(earned("C1", "7"))
	after, err := notify.ParseCursor(restored)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = notify.Feed(ctx, f.l, after, 100, notify.Filter{})
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.Invalid || fe.Fields["after"] == "" {
		t.Errorf("a partner reading on from the restored cursor %s: %v; want invalid naming after", restored, err)
	}
	if _, err := s.Step(ctx); err == nil {
		t.Errorf("the dispatcher's step from the restored cursor %s reported no error", restored)
	}
}
