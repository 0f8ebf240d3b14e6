package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestMetricsCountAGroupWrittenAgainEventByEvent makes a group's grouped
// write fail for real: a twin of its shipment is inserted, uncommitted,
// before the event arrives, so the group reads no such shipment, then waits
// on the twin's insert and fails on it once it commits. The group is then
// written again event by event, which refuses the event as a duplicate, and
// /metrics counts the fallback.
func TestMetricsCountAGroupWrittenAgainEventByEvent(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	wantMetric(t, h, "tally_event_group_fallbacks_total 0")

	twin, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Rollback(ctx)
	if _, err := twin.Exec(ctx, `INSERT INTO shipments (shipment_id, customer_id, amount, occurred_at, month,
    points_volume, points_campaign, rule_version) VALUES ('S-TWIN', 'C1', 10, now(), '2026-03', 0, 0, 1)`); err != nil {
		t.Fatal(err)
	}
	committed := make(chan error, 1)
	go func() {
		// The signal: a backend of this database waits on a lock, which
		// only the group's insert of the twin's shipment can.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var waiting int
			err := h.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
			if err != nil || waiting > 0 {
				if err == nil {
					err = twin.Commit(ctx)
				}
				committed <- err
				return
			}
			if time.Now().After(deadline) {
				committed <- fmt.Errorf("no group waited on the twin's shipment in 30 s")
				twin.Rollback(ctx)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	r := h.do(call{method: "POST", path: "/v1/events", key: "partner", body: map[string]any{"event_id": "e1",
		"type": "shipment.completed", "customer_id": "C1", "shipment_id": "S-TWIN", "amount": "100",
		"occurred_at": time.Now().Add(-time.Minute).Format(time.RFC3339)}})
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	wantProblem(t, r, 409, fault.DuplicateShipment)
	wantMetric(t, h, "tally_event_group_fallbacks_total 1")
}

func wantMetric(t *testing.T, h *harness, line string) {
	t.Helper()
	m := h.expect(200, call{method: "GET", path: "/metrics"})
	for _, l := range strings.Split(string(m.body), "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("/metrics lacks the line %q", line)
}
