package webhook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/notify/webhook"
)

// TestPruneDeletesTheLogOlderThanItsCutoffAndKeepsWhatIsPending: six
// customers' notifications reach one endpoint in turn: C1's accepted at
// its first send (an attempt alone), C2's accepted at its second (a
// delivery, delivered), C3's and C5's failed at their deadline, C6's
// failed when tried once more two hours after its deadline (the
// dispatcher got to it late), then C5's redelivered to a receiver still
// failing (pending again, though created before the cutoff) and C4's sent
// after the cutoff and failing (pending). The cutoff falls between C6's
// deadline and its last attempt. A prune at the cutoff, in steps of two
// rows, deletes every attempt made before it and the deliveries settled
// before it, C2's and C3's; it keeps C4's and C5's pending deliveries and
// C6's (failed after the cutoff), and the attempts after the cutoff,
// which the delivery log still lists. A pruned notification can still be
// redelivered, and is delivered.
func TestPruneDeletesTheLogOlderThanItsCutoffAndKeepsWhatIsPending(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.cfg.RetryFor = 3 * time.Hour
	f.cfg.BreakAfter = 1000 // the breaker is another test's
	f.cfg.Backoff = func(int) time.Duration { return 50 * time.Minute }
	webhook.SetPruneChunk(t, 2)
	s := f.service()
	r := newReceiver(t)
	ep := f.subscribe(s, r, webhook.Owner{})
	t0 := f.clock.now()

	f.emit(earned("C1", "1")) // accepted at once
	step(t, s)
	r.set("fail")
	f.emit(earned("C2", "2")) // fails, then is accepted an hour later
	step(t, s)
	f.clock.add(time.Hour)
	r.set("ok")
	step(t, s)
	r.set("fail")
	f.emit(earned("C3", "3"), earned("C5", "5")) // fail until their deadline
	for f.count("status = 'failed'") < 2 {
		step(t, s)
		f.clock.add(time.Hour)
		if f.clock.now().Sub(t0) > 10*time.Hour {
			t.Fatal("C3's and C5's deliveries did not fail")
		}
	}
	f.emit(earned("C6", "6")) // fails, then is tried once more two hours after its deadline
	step(t, s)
	c6 := f.clock.now()
	f.clock.add(5 * time.Hour)
	step(t, s)
	if n := f.count("customer_id = 'C6' AND status = 'failed'"); n != 1 {
		t.Fatalf("C6's delivery: %d failed, want 1", n)
	}
	cutoff := c6.Add(4 * time.Hour)
	f.clock.add(time.Hour)
	ntf := map[string]string{}
	for _, n := range f.feed() {
		ntf[n.Customer] = n.ID()
	}
	if n, err := s.Redeliver(ctx, webhook.Owner{}, ep.ID, webhook.Redelivery{Notification: ntf["C5"]}); err != nil || n != 1 {
		t.Fatalf("redeliver C5's: %d, %v", n, err)
	}
	f.emit(earned("C4", "4"))
	step(t, s) // C5's again and C4's, both failing

	var before, old, pending int
	if err := f.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE at < $1) FROM webhook_attempts`, cutoff).
		Scan(&before, &old); err != nil {
		t.Fatal(err)
	}
	pending = f.count("status = 'pending'")
	if old < 5 || before-old != 3 || pending != 2 {
		t.Fatalf("before the prune: %d attempts, %d before the cutoff, %d pending; want at least 5 of them before it, 3 after, 2 pending",
			before, old, pending)
	}

	got, err := s.Prune(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != int64(old) || got.Deliveries != 2 {
		t.Errorf("pruned %d attempts and %d deliveries, want %d and 2 (C2's delivered, C3's failed)",
			got.Attempts, got.Deliveries, old)
	}
	var left, leftOld int
	if err := f.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE at < $1) FROM webhook_attempts`, cutoff).
		Scan(&left, &leftOld); err != nil {
		t.Fatal(err)
	}
	if left != before-old || leftOld != 0 {
		t.Errorf("%d attempts left, %d of them before the cutoff; want %d and 0", left, leftOld, before-old)
	}
	dr, err := f.pool.Query(ctx, `SELECT customer_id || ' ' || status FROM webhook_deliveries ORDER BY customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pgx.CollectRows(dr, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rows) != "[C4 pending C5 pending C6 failed]" {
		t.Errorf("deliveries left: %v, want C4's and C5's, pending, and C6's, failed after the cutoff", rows)
	}
	log, err := s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != before-old {
		t.Errorf("the delivery log lists %d attempts, want %d", len(log), before-old)
	}
	for _, a := range log {
		if a.At.Before(cutoff) {
			t.Errorf("the log still lists an attempt at %v, before the cutoff %v", a.At, cutoff)
		}
	}

	// Nothing is left before the cutoff: a prune again deletes nothing.
	if again, err := s.Prune(ctx, cutoff); err != nil || again.Attempts != 0 || again.Deliveries != 0 {
		t.Errorf("a second prune: %+v, %v; want nothing deleted", again, err)
	}

	// Past C4's and C5's deadlines, before a dispatcher marked them
	// failed, a prune up to now keeps them: they are pending still.
	f.clock.add(10 * time.Hour)
	if _, err := s.Prune(ctx, f.clock.now()); err != nil {
		t.Fatal(err)
	}
	if n := f.count("status = 'pending'"); n != 2 {
		t.Errorf("%d pending deliveries after a prune past their deadline, want C4's and C5's", n)
	}

	// Pruned, C2's notification is redelivered all the same.
	r.set("ok")
	if n, err := s.Redeliver(ctx, webhook.Owner{}, ep.ID, webhook.Redelivery{Notification: ntf["C2"]}); err != nil || n != 1 {
		t.Fatalf("redeliver C2's after the prune: %d, %v", n, err)
	}
	f.clock.add(time.Hour)
	step(t, s)
	if n := f.count("customer_id = 'C2' AND status = 'delivered'"); n != 1 {
		t.Errorf("C2's redelivery: %d delivered, want 1", n)
	}
}

// TestPruneReadsTheLogOnlyAsFarAsItDeletes: the log's oldest attempt is
// stamped a day ahead (a server's clock was), then come 35 attempts older
// than the cutoff and 3,000 newer ones; the oldest deliveries are 25
// delivered 40 days ago, then one created as long ago but delivered an
// hour ago (redelivered), then 1,000 pending ones created now. In chunks
// of 10, the prune deletes the 35 attempts and the 25 deliveries in 9
// transactions: the row stamped ahead does not stop it, the newer rows
// do, and a delivery is judged by when it was settled, not created.
func TestPruneReadsTheLogOnlyAsFarAsItDeletes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	webhook.SetPruneChunk(t, 10)
	s := f.service()
	ep := f.subscribe(s, newReceiver(t), webhook.Owner{})
	f.emit(earned("C1", "1"))
	now := f.clock.now()
	for _, q := range []string{
		`INSERT INTO webhook_attempts (notification_id, endpoint_id, attempt, at, status_code, latency_ms)
SELECT (SELECT max(id) FROM notifications), $1, 1, CASE WHEN i = 0 THEN $2::timestamptz + interval '1 day'
    WHEN i <= 35 THEN $2::timestamptz - interval '40 days' ELSE $2::timestamptz END, 200, 1
FROM generate_series(0, 3035) AS i ORDER BY i`,
		`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at,
    deliver_by, delivered_at)
SELECT $1, (SELECT max(id) FROM notifications) + i, '1'::xid8, 'C1', CASE WHEN i <= 26 THEN 'delivered' ELSE 'pending' END,
    CASE WHEN i <= 26 THEN $2::timestamptz - interval '41 days' ELSE $2::timestamptz END, $2::timestamptz,
    $2::timestamptz + interval '3 days',
    CASE WHEN i <= 25 THEN $2::timestamptz - interval '40 days' WHEN i = 26 THEN $2::timestamptz - interval '1 hour' END
FROM generate_series(1, 1026) AS i ORDER BY i`,
	} {
		if _, err := f.pool.Exec(ctx, q, ep.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Prune(ctx, now.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 35 || got.Deliveries != 25 || got.Steps > 9 {
		t.Errorf("pruned %d attempts and %d deliveries in %d steps; want 35 and 25 in at most 9", got.Attempts, got.Deliveries, got.Steps)
	}
}

// TestPruneTakesTheLaterOfAFailuresTimeAndItsDeadline: during a rolling
// upgrade, a delivery failed 20 days ago by a newer server (failed_at
// set), then redelivered and failed again two days ago by a server of the
// release before (which neither clears nor sets failed_at), keeps its
// stale failed_at. A prune at 7 days keeps it and its recent attempt, by
// its deadline; it prunes one whose failure and deadline are both older.
func TestPruneTakesTheLaterOfAFailuresTimeAndItsDeadline(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.service()
	ep := f.subscribe(s, newReceiver(t), webhook.Owner{})
	f.emit(earned("C1", "1"), earned("C2", "2"))
	now := f.clock.now()
	for _, q := range []string{
		`INSERT INTO webhook_deliveries (endpoint_id, notification_id, ntf_xid, customer_id, status, created_at, next_attempt_at,
    deliver_by, failed_at)
SELECT $1, n.id, n.xid, n.customer_id, 'failed', $2::timestamptz - interval '23 days', $2::timestamptz,
    $2::timestamptz - CASE n.customer_id WHEN 'C1' THEN interval '2 days' ELSE interval '20 days' END,
    $2::timestamptz - interval '20 days'
FROM notifications n ORDER BY n.id`,
		`INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempt, at, status_code, latency_ms)
SELECT id, $1, 1, least(deliver_by, $2::timestamptz), 503, 1 FROM webhook_deliveries ORDER BY id`,
	} {
		if _, err := f.pool.Exec(ctx, q, ep.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Prune(ctx, now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	log, err := s.Attempts(ctx, webhook.Owner{}, ep.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.Deliveries != 1 || got.Attempts != 1 || f.count("customer_id = 'C1' AND status = 'failed'") != 1 || len(log) != 1 {
		t.Errorf("pruned %+v, C1's delivery kept %d times, the log lists %d attempts; want C2's delivery and attempt pruned, C1's kept and listed",
			got, f.count("customer_id = 'C1' AND status = 'failed'"), len(log))
	}
}
