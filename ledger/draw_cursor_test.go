package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// A draw does not depend on the names of the session's cursors. On
// PostgreSQL 15 a plpgsql bound cursor opens a portal named after its
// variable (open_lots) unless the variable is NULL: a session with a cursor
// of that name open (a client's DECLARE, an export paging through rows)
// would see every redemption fail with "cursor "open_lots" already in use",
// where 0029's draw_lots_many and 0003's draw_lots drew.
func TestADrawBesideACursorOfTheSameName(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	now := time.Now()
	mustPost(t, l, earnLot("C1", "10", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(2, 0, 0)}))
	for _, call := range []string{
		`SELECT draw_lots_many(ARRAY['customer:C1:points'], ARRAY[currval('entries_id_seq')], ARRAY[4::bigint], now())`,
		`SELECT draw_lots('customer:C1:points', 4, NULL, NULL, now())`,
	} {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `DECLARE open_lots CURSOR FOR SELECT 1`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO entries (kind, effective_at, request_hash, actor) VALUES ('redeem', now(), '\x00', 'test')`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, call); err != nil {
			t.Errorf("%s beside a cursor named open_lots: %v", call, err)
		} else {
			var drawn int64
			if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM lot_draws WHERE entry_id = currval('entries_id_seq')`).Scan(&drawn); err != nil {
				t.Fatal(err)
			}
			if drawn != 4 {
				t.Errorf("%s drew %d points, want 4", call, drawn)
			}
		}
		tx.Rollback(ctx)
	}
}
