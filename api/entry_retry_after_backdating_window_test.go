package api

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// A manual entry dated inside the back-dating window, retried with its
// Idempotency-Key after the window has moved past its effective_at, is
// answered as first recorded (201, Idempotent-Replayed), as every retried
// write is: the window holds back new business, not the retry of what was
// recorded. Another entry so dated is refused.
func TestManualEntryRetriedAfterTheWindowMovedOnReplays(t *testing.T) {
	clock := servicetest.NewClock(time.Now().UTC().Truncate(time.Microsecond))
	h := harnessWithClock(t, clock)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	entry := adjustment("5", "C1")
	entry["effective_at"] = clock.Now().Add(-59 * 24 * time.Hour).Format(time.RFC3339Nano)
	retry := call{method: "POST", path: "/v1/entries", key: "admin", body: entry,
		header: map[string]string{"Idempotency-Key": "late-entry"}}
	first := h.expect(201, retry).object(t)
	if first["id"] == nil {
		t.Fatalf("entry without an id: %v", first)
	}

	clock.Add(2 * 24 * time.Hour) // the window (60 days) now starts after effective_at
	res := h.do(retry)
	if res.status != 201 || res.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after the window moved: %d %s (Idempotent-Replayed %q); want 201, the first entry replayed",
			res.status, res.body, res.header.Get("Idempotent-Replayed"))
	}
	if again := res.object(t); again["id"] != first["id"] {
		t.Errorf("retry answered entry %v, want %v", again["id"], first["id"])
	}
	other := call{method: "POST", path: "/v1/entries", key: "admin", body: entry,
		header: map[string]string{"Idempotency-Key": "another-late-entry"}}
	wantProblem(t, h.do(other), 422, fault.OccurredAtTooOld)
}

// harnessWithClock is newHarness with the ledger's (and so the services')
// now read from clock.
func harnessWithClock(t *testing.T, clock *servicetest.Clock) *harness {
	t.Helper()
	spec(t)
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithClock(clock.Now))
	cfg := wired(pool, l)
	cfg.OpenAPI, cfg.Ready = tally.OpenAPI, func(ctx context.Context) error { return pool.Ping(ctx) }
	srv := httptest.NewUnstartedServer(New(cfg))
	srv.Listener = Listener(srv.Config, srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, ledger: l, pool: pool, keys: map[string]string{}}
	for name, role := range map[string]ledger.Role{"admin": ledger.RoleAdmin, "partner": ledger.RolePartner} {
		secret, _, err := l.CreateKey(context.Background(), name, role, "")
		if err != nil {
			t.Fatal(err)
		}
		h.keys[name] = secret
	}
	return h
}
