package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// referralDue makes, in the database at url, a referral bonus whose
// pending window ended six days ago: R referred E, whose 80 CNY shipment
// 20 days ago qualified.
func referralDue(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := openPool(t, url)
	l := ledger.New(pool)
	svc := loyalty.New(pool, l)
	r := "R"
	for _, c := range []loyalty.Customer{{ID: "R", Name: "R"}, {ID: "E", Name: "E", ReferredBy: &r}} {
		if _, _, err := svc.CreateCustomer(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	_, key, err := l.CreateKey(ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	amount := decimal.NewFromInt(80)
	out := svc.ProcessBatch(ctx, key, "test", []loyalty.Event{{EventID: "e1", Type: "shipment.completed", CustomerID: "E",
		ShipmentID: "S1", Amount: &amount, OccurredAt: time.Now().Add(-20 * 24 * time.Hour)}})
	if out[0].Err != nil {
		t.Fatal(out[0].Err)
	}
	return pool
}

func countNotices(t *testing.T, pool *pgxpool.Pool, typ string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM notifications WHERE type = $1`, typ).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoticesCommandWritesWhatIsDueOnce: `tally notices` announces the due
// bonus, a second run nothing more; an --as-of ahead of now is refused.
func TestNoticesCommandWritesWhatIsDueOnce(t *testing.T) {
	url := testdb.New(t)
	pool := referralDue(t, url)
	vars := getenv(map[string]string{"DATABASE_URL": url})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"notices"}, vars, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ", 1 referral.bonus_available") {
		t.Errorf("first run printed %q, want one referral bonus", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"notices"}, vars, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), ", 0 referral.bonus_available") || countNotices(t, pool, "referral.bonus_available") != 1 {
		t.Errorf("second run printed %q; want nothing new and one notice in all", out.String())
	}
	err := run(context.Background(), []string{"notices", "--as-of", time.Now().Add(time.Hour).Format(time.RFC3339)}, vars, nil, io.Discard, io.Discard)
	if fault.CodeOf(err) != fault.AsOfInFuture {
		t.Errorf("--as-of an hour ahead: %v, want as_of_in_future", err)
	}
	var u usageError
	if err := run(context.Background(), []string{"notices", "--as-of", "soon"}, vars, nil, io.Discard, io.Discard); !errors.As(err, &u) {
		t.Errorf("--as-of soon: %v, want a usage error", err)
	}
	if err := run(context.Background(), []string{"reconcile"}, vars, nil, io.Discard, io.Discard); err != nil {
		t.Errorf("reconcile on sound books: %v", err)
	}
}

// TestServeRunsTheNoticeJobsEveryInterval: `tally serve` with
// TALLY_NOTICES_EVERY=1s runs the notice jobs by itself (it logs each
// run); the due bonus is announced once however many runs pass. A
// malformed interval stops serve before it starts.
func TestServeRunsTheNoticeJobsEveryInterval(t *testing.T) {
	url := testdb.New(t)
	pool := referralDue(t, url)
	vars := map[string]string{"DATABASE_URL": url, "TALLY_ADDR": "127.0.0.1:0", "TALLY_ADMIN_KEY": "automation-admin-key-0123456789",
		"TALLY_NOTICES_EVERY": "1s"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, getenv(vars), nil, io.Discard, logw)
		logw.Close()
	}()
	runs := 0
	lines := bufio.NewScanner(logs)
	deadline := time.AfterFunc(time.Minute, func() { logw.CloseWithError(io.ErrUnexpectedEOF) })
	defer deadline.Stop()
	for runs < 2 && lines.Scan() {
		if strings.Contains(lines.Text(), `"msg":"job done","job":"notices"`) {
			runs++
		}
		if strings.Contains(lines.Text(), `"job failed"`) {
			t.Errorf("a run failed: %s", lines.Text())
		}
	}
	go io.Copy(io.Discard, logs)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if runs < 2 {
		t.Fatalf("serve logged %d notice runs, want 2", runs)
	}
	if n := countNotices(t, pool, "referral.bonus_available"); n != 1 {
		t.Errorf("%d referral.bonus_available notices after %d runs, want 1", n, runs)
	}

	vars["TALLY_NOTICES_EVERY"] = "often"
	var u usageError
	if err := run(context.Background(), []string{"serve"}, getenv(vars), nil, io.Discard, io.Discard); !errors.As(err, &u) {
		t.Errorf("TALLY_NOTICES_EVERY=often: %v, want a usage error", err)
	}
}

// oldAndNewAttempts inserts, in the database at url, an attempt made 40
// days ago and one made an hour ago, both of one notification to one
// endpoint.
func oldAndNewAttempts(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := openPool(t, url)
	l := ledger.New(pool)
	hooks := webhook.New(l, webhook.Config{Hosts: []string{"127.0.0.1"}, AllowLoopback: true})
	ep, _, err := hooks.Create(ctx, webhook.Owner{}, webhook.EndpointInput{URL: "http://127.0.0.1:9/hook", Types: []string{notify.PointsEarned}})
	if err != nil {
		t.Fatal(err)
	}
	var ntf int64
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		if _, err := notify.Emit(ctx, tx, notify.Event{Type: notify.PointsEarned, Customer: "C1", Payload: map[string]any{"points": "1"}}); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT max(id) FROM notifications`).Scan(&ntf)
	}); err != nil {
		t.Fatal(err)
	}
	for _, ago := range []time.Duration{40 * 24 * time.Hour, time.Hour} {
		if _, err := pool.Exec(ctx, `INSERT INTO webhook_attempts (notification_id, endpoint_id, attempt, at, status_code, latency_ms)
VALUES ($1, $2, 1, now() - $3::interval, 200, 1)`, ntf, ep.ID, ago.String()); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// oldestAttempt is when the oldest attempt left was made.
func oldestAttempt(t *testing.T, pool *pgxpool.Pool) time.Time {
	t.Helper()
	var at time.Time
	if err := pool.QueryRow(context.Background(), `SELECT min(at) FROM webhook_attempts`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

// TestServePrunesTheWebhookLogAtStart: `tally serve` prunes the delivery
// log when it starts (then hourly): the attempt 40 days old is gone within
// seconds, the one an hour old stays.
func TestServePrunesTheWebhookLogAtStart(t *testing.T) {
	url := testdb.New(t)
	pool := oldAndNewAttempts(t, url)
	_, _, stop := startServe(t, map[string]string{"DATABASE_URL": url, "TALLY_ADDR": "127.0.0.1:0"})
	defer stop()
	for deadline := time.Now().Add(20 * time.Second); time.Since(oldestAttempt(t, pool)) > 2*time.Hour; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the attempt 40 days old is still there 20 s after serve started")
		}
	}
}

// TestWebhooksPruneCommand: `tally webhooks prune --keep 720h` deletes an
// attempt made 40 days ago and keeps one made an hour ago; a keep under 7
// days (longer than a delivery is retried), 0 (forever: nothing to prune),
// or no subcommand, is a usage error, as is a bad or short
// TALLY_WEBHOOK_LOG_KEEP for serve.
func TestWebhooksPruneCommand(t *testing.T) {
	ctx := context.Background()
	url := testdb.New(t)
	pool := oldAndNewAttempts(t, url)
	vars := getenv(map[string]string{"DATABASE_URL": url})
	var out bytes.Buffer
	if err := run(ctx, []string{"webhooks", "prune", "--keep", "720h"}, vars, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	left := oldestAttempt(t, pool)
	if !strings.HasPrefix(out.String(), "webhooks prune: 1 attempts and 0 settled deliveries") || time.Since(left) > 2*time.Hour {
		t.Errorf("printed %q, oldest attempt left %v; want one attempt deleted, the one an hour old kept", out.String(), left)
	}
	var u usageError
	for _, args := range [][]string{{"webhooks"}, {"webhooks", "prune", "--keep", "5m"}, {"webhooks", "prune", "--keep", "167h"},
		{"webhooks", "prune", "--keep", "a month"}, {"webhooks", "prune", "--keep", "0"}} {
		if err := run(ctx, args, vars, nil, io.Discard, io.Discard); !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	for _, keep := range []string{"a month", "24h"} {
		// Should serve start anyway, it stops after 5 s (and the test fails).
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		bad := getenv(map[string]string{"DATABASE_URL": url, "TALLY_WEBHOOK_LOG_KEEP": keep, "TALLY_ADDR": "127.0.0.1:0"})
		if err := run(sctx, []string{"serve"}, bad, nil, io.Discard, io.Discard); !errors.As(err, &u) {
			t.Errorf("serve with TALLY_WEBHOOK_LOG_KEEP=%s: %v, want a usage error", keep, err)
		}
		cancel()
	}
}
