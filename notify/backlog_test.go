package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/notify"
)

// TestBacklogStaysOnTheFeedIndex: the backlog's statement, on the generic
// plan a cached statement may settle on, reads notifications_order from
// the cursor, never the whole table, on a table of 20,000 notifications.
// Without its ORDER BY the generic plan is a scan that filters every row.
func TestBacklogStaysOnTheFeedIndex(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO notifications (type, customer_id, occurred_at, payload)
SELECT 'points.earned', 'C' || i, now(), '{}' FROM generate_series(1, 20000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE notifications`); err != nil {
		t.Fatal(err)
	}
	text := testdb.GenericPlan(t, pool, notify.QBacklog, "0", int64(0), int64(100000))
	if strings.Contains(text, "Seq Scan") || !strings.Contains(text, "notifications_order") {
		t.Errorf("the backlog's generic plan does not read notifications_order:\n%s", text)
	}
}
