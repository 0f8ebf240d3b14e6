package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// TestRepeatsAreAnsweredOnceDurable: an answer that repeats what an
// earlier request recorded (a replayed entry, a registration of a customer
// or a campaign made again) may be the client's retry of a first attempt
// whose commit was cut short while it waited for the synchronous standbys:
// visible on the primary, on no standby, lost with the primary. It is
// answered only once durable. On a cluster of the test's own whose
// synchronous_standby_names then names a standby that never connects,
// nothing becomes durable: no repeat may be answered 2xx.
func TestRepeatsAreAnsweredOnceDurable(t *testing.T) {
	ctx := context.Background()
	_, url := testdb.OwnCluster(t, "pgsyncrepeats", pgdev.Options{Fast: true, Settings: "synchronous_commit = on\n"}, true)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l := ledger.New(pool)
	srv := httptest.NewServer(New(wired(pool, l)))
	t.Cleanup(srv.Close)
	admin, _, err := l.CreateKey(ctx, "admin", ledger.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 1500 * time.Millisecond}
	post := func(path, idem, body string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	writes := []struct{ name, path, idem, body string }{
		{"a customer's registration", "/v1/customers", "", `{"id":"S1","name":"Sync"}`},
		{"a campaign's registration", "/v1/campaigns", "", `{"id":"K1","name":"k","starts_at":"2031-01-01T00:00:00Z",` +
			`"ends_at":"2031-02-01T00:00:00Z","multiplier":"2"}`},
		{"an entry", "/v1/entries", "e1", `{"reason":"r","postings":[{"account":"platform:points:earned:adjustment","amount":"-5"},` +
			`{"account":"customer:S1:points","asset":"PTS","amount":"5"}]}`},
	}
	for _, w := range writes {
		if status, err := post(w.path, w.idem, w.body); err != nil || status != http.StatusCreated {
			t.Fatalf("%s: %d %v, want 201", w.name, status, err)
		}
	}

	if _, err := pool.Exec(ctx, `ALTER SYSTEM SET synchronous_standby_names = 'nosuch'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the checkpointer takes the setting up
	t.Cleanup(func() {
		pool.Exec(ctx, `ALTER SYSTEM RESET synchronous_standby_names`)
		pool.Exec(ctx, `SELECT pg_reload_conf()`)
	})
	for _, w := range writes {
		start := time.Now()
		if status, err := post(w.path, w.idem, w.body); err == nil && status < 300 {
			t.Errorf("%s repeated: answered %d after %v while nothing can be acknowledged by a standby",
				w.name, status, time.Since(start).Round(time.Millisecond))
		}
	}
}
