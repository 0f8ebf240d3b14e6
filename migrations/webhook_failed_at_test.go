package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify/webhook"
)

// Migration 0041, applied to a database holding deliveries failed by the
// release before: every row is as it was, with no
// failed_at, and the prune takes a failed delivery's deadline for it: the
// one failed 40 days ago is pruned at a cutoff of 30 days, the one failed
// a day ago is not (nor its attempt). Rolled back, the rows are as they
// were again.
func TestWebhookFailedAtMigrationKeepsTheDeliveriesAndThePruneTakesTheirDeadline(t *testing.T) {
	ctx := context.Background()
	_, m, pool, e := schemaAt(t, 40)
	emitNotice(t, e, "F1", 1)
	emitNotice(t, e, "F2", 1)
	for _, q := range []string{
		`INSERT INTO webhook_endpoints (url, types, secret, created_at, updated_at)
VALUES ('https://hooks.example/a', '{points.expiring}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now())`,
		// F1's failed at a deadline 40 days ago, F2's a day ago.
		`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, attempts,
    created_at, next_attempt_at, deliver_by)
SELECT 1, n.id, n.xid, n.customer_id, 'failed', 1, d - interval '3 days', d, d
FROM notifications n CROSS JOIN LATERAL (SELECT now() - CASE n.customer_id WHEN 'F1' THEN interval '40 days' ELSE interval '1 day' END AS d) t
ORDER BY n.id`,
		`INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempt, at, status_code, latency_ms)
SELECT id, 1, 1, created_at, 503, 5 FROM webhook_deliveries ORDER BY id`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const rows040 = `SELECT string_agg(format('%s %s %s %s %s %s %s %s', id, endpoint_id, notification_id, customer_id, status,
    attempts, created_at, deliver_by), E'\n' ORDER BY id) FROM webhook_deliveries`
	read := func(q string) string { t.Helper(); return queryString(t, pool, q) }
	before, rowsBefore := tableDigests(t, pool), read(rows040)
	if err := m.Migrate(41); err != nil {
		t.Fatalf("0041 up: %v", err)
	}
	if got := read(rows040); got != rowsBefore {
		t.Errorf("the deliveries after 0041:\n%s\nwant\n%s", got, rowsBefore)
	}
	var set int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE failed_at IS NOT NULL`).Scan(&set); err != nil || set != 0 {
		t.Errorf("after 0041: %d deliveries with a failed_at (%v), want none", set, err)
	}
	p, err := webhook.New(e.Ledger, webhook.Config{}).Prune(ctx, time.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var left string
	if err := pool.QueryRow(ctx, `SELECT string_agg(d.customer_id || ' ' || a.status_code, ',') FROM webhook_deliveries d
JOIN webhook_attempts a ON a.delivery_id = d.id`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if p.Deliveries != 1 || p.Attempts != 1 || left != "F2 503" {
		t.Errorf("the prune after 0041: %+v, left %q; want F1's delivery and attempt pruned, F2's left", p, left)
	}
	if err := m.Migrate(40); err != nil {
		t.Fatalf("0041 down: %v", err)
	}
	after := tableDigests(t, pool)
	for _, table := range []string{"notifications", "webhook_endpoints"} {
		if after[table] != before[table] {
			t.Errorf("after 0041 and its down: %s is %s, was %s", table, after[table], before[table])
		}
	}
	if err := m.Migrate(41); err != nil {
		t.Fatalf("0041 up again: %v", err)
	}
}
