package migrations_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/notify/webhook"
)

// Migration 0025, applied to a database holding the delivery log as the
// release before wrote it (every attempt with its delivery): every row is
// as it was, and the log reads as before. An attempt written since, with
// its notification and no delivery, is refused without either, and rolled
// back it gets a delivery of its own, delivered at its attempt, so that
// the release before reads it.
func TestLoneAttemptsMigrationKeepsTheLogAndGivesLoneAttemptsADeliveryBack(t *testing.T) {
	ctx := context.Background()
	_, m, pool, e := schemaAt(t, 24)
	emitNotice(t, e, "W1", 1)
	emitNotice(t, e, "W2", 1)
	emitNotice(t, e, "W3", 1)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO webhook_endpoints (url, types, secret, created_at, updated_at)
VALUES ('https://hooks.example/a', '{points.expiring}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now())`)
	// W1's notice delivered at its first attempt; W2's refused once and
	// pending; W3's none yet.
	exec(`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, attempts,
    created_at, next_attempt_at, deliver_by, delivered_at)
SELECT 1, n.id, n.xid, n.customer_id, CASE n.customer_id WHEN 'W1' THEN 'delivered' ELSE 'pending' END, 1,
    now(), now() + interval '1 minute', now() + interval '3 days', CASE n.customer_id WHEN 'W1' THEN now() END
FROM notifications n WHERE n.customer_id IN ('W1', 'W2') ORDER BY n.id`)
	exec(`INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempt, at, status_code, latency_ms, response)
SELECT d.id, 1, 1, now(), CASE d.status WHEN 'delivered' THEN 204 ELSE 503 END, 12, 'r' || d.id
FROM webhook_deliveries d ORDER BY d.id`)
	const attemptsAt24 = `SELECT coalesce(string_agg(format('%s %s %s %s %s %s %s %s %s', id, delivery_id, endpoint_id, attempt, at,
    status_code, error, latency_ms, response), E'\n' ORDER BY id), '') FROM webhook_attempts`
	read := func(q string) string { t.Helper(); return queryString(t, pool, q) }
	before := tableDigests(t, pool)
	attemptsBefore := read(attemptsAt24)
	if err := m.Migrate(25); err != nil {
		t.Fatalf("0025 up: %v", err)
	}
	after := tableDigests(t, pool)
	for _, table := range []string{"notifications", "webhook_deliveries", "webhook_endpoints", "webhook_feed"} {
		if after[table] != before[table] {
			t.Errorf("after 0025: %s is %s, was %s", table, after[table], before[table])
		}
	}
	if got := read(attemptsAt24); got != attemptsBefore {
		t.Errorf("the attempts after 0025:\n%s\nwant\n%s", got, attemptsBefore)
	}
	s := webhook.New(e.Ledger, webhook.Config{})
	log, err := s.Attempts(ctx, webhook.Owner{}, 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(attemptLines(t, pool, log)); got != "[W2 503 pending W1 204 delivered]" {
		t.Errorf("the log after 0025: %s", got)
	}

	// Written since: W3's notice accepted at once, its attempt alone.
	exec(`INSERT INTO webhook_attempts (notification_id, endpoint_id, attempt, at, status_code, latency_ms, response)
SELECT id, 1, 1, now(), 200, 7, 'ok' FROM notifications WHERE customer_id = 'W3'`)
	if _, err := pool.Exec(ctx, `INSERT INTO webhook_attempts (endpoint_id, attempt, at, latency_ms) VALUES (1, 1, now(), 1)`); err == nil {
		t.Error("an attempt with neither a delivery nor a notification was written")
	}
	log, err = s.Attempts(ctx, webhook.Owner{}, 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(attemptLines(t, pool, log)); got != "[W3 200 delivered W2 503 pending W1 204 delivered]" {
		t.Errorf("the log with a lone attempt: %s", got)
	}

	if err := m.Migrate(24); err != nil {
		t.Fatalf("0025 down: %v", err)
	}
	got := read(`SELECT string_agg(format('%s %s %s %s', n.customer_id, d.status, d.attempts, (d.delivered_at = a.at) IS TRUE), ' ' ORDER BY d.id)
FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN notifications n ON n.id = d.notification_id`)
	if got != "W1 delivered 1 f W2 pending 1 f W3 delivered 1 t" {
		t.Errorf("after 0025's down, the attempts' deliveries: %s", got)
	}
	if err := m.Migrate(25); err != nil {
		t.Fatalf("0025 up again: %v", err)
	}
}

// attemptLines is each attempt of a log as "customer status delivery".
func attemptLines(t *testing.T, pool *pgxpool.Pool, log []webhook.Attempt) []string {
	t.Helper()
	var out []string
	for _, a := range log {
		var customer string
		if err := pool.QueryRow(context.Background(), `SELECT customer_id FROM notifications WHERE 'ntf_' || id = $1`,
			a.NotificationID).Scan(&customer); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %s", customer, *a.StatusCode, a.DeliveryStatus))
	}
	return out
}
