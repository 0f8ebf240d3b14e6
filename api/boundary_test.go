package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// Key revocation: a server authenticates a key against the database and
// then trusts it for keyCacheTTL (1 s). A revoked key is refused at once by
// a server that does not hold it and by the server whose ledger revoked it,
// and by every other server once its window ends.

// keyClock is a settable now for a server's key cache.
type keyClock struct{ t atomic.Pointer[time.Time] }

func (c *keyClock) now() time.Time      { return *c.t.Load() }
func (c *keyClock) set(t time.Time)     { c.t.Store(&t) }
func (c *keyClock) add(d time.Duration) { c.set(c.now().Add(d)) }

// anotherServer is a second API server on h's database, sharing its keys,
// whose key cache reads clock (nil: the wall clock).
func anotherServer(t *testing.T, h *harness, clock *keyClock) *harness {
	t.Helper()
	cfg := wired(h.pool, h.ledger)
	cfg.OpenAPI, cfg.Ready = tally.OpenAPI, func(ctx context.Context) error { return h.pool.Ping(ctx) }
	s := New(cfg)
	if clock != nil {
		s.keys.now = clock.now
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, ledger: h.ledger, pool: h.pool, keys: h.keys}
}

// newPartnerKey adds a partner key named name to h's keys and returns its id.
func newPartnerKey(t *testing.T, h *harness, name string) int64 {
	t.Helper()
	secret, k, err := h.ledger.CreateKey(context.Background(), name, ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	h.keys[name] = secret
	return k.ID
}

// textColumn runs a query of one text column.
func (h *harness) textColumn(q string) []string {
	h.t.Helper()
	rows, err := h.pool.Query(context.Background(), q)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	return out
}

func createCustomer(h *harness, key, id string) response {
	h.t.Helper()
	return h.do(call{method: "POST", path: "/v1/customers", key: key, body: map[string]any{"id": id, "name": id}})
}

// wantRevoked checks the answer to a revoked key: 401 unauthorized, with the
// bearer challenge naming an invalid token.
func wantRevoked(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Errorf("a revoked key was answered %d, want 401: %s", r.status, r.body)
		return
	}
	wantProblem(t, r, http.StatusUnauthorized, fault.Unauthorized)
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q, want an invalid_token challenge", got)
	}
}

func TestRevokedKeyIsRefusedAtOnceByAServerThatHasNotCachedIt(t *testing.T) {
	h := newHarness(t)
	id := newPartnerKey(t, h, "revoked")
	if err := h.ledger.RevokeKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, createCustomer(h, "revoked", "C1"))
	wantRevoked(t, h.do(call{method: "GET", path: "/v1/rules", key: "revoked"}))
	if n := h.count("customers"); n != 0 {
		t.Errorf("%d customers created with a revoked key", n)
	}
	// The other keys are untouched.
	wantStatus(t, createCustomer(h, "partner", "C1"), http.StatusCreated)
}

// The server whose ledger revoked a key forgets it at once, however long
// its cache would have trusted it (its clock stands still).
func TestRevokedKeyIsRefusedAtOnceByTheServerThatRevokedIt(t *testing.T) {
	clock := &keyClock{}
	clock.set(time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC))
	h := anotherServer(t, newHarness(t), clock)
	id := newPartnerKey(t, h, "revoked")
	wantStatus(t, createCustomer(h, "revoked", "C1"), http.StatusCreated) // now in its cache
	if err := h.ledger.RevokeKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, createCustomer(h, "revoked", "C2"))
	if got := strings.Join(h.textColumn(`SELECT id FROM customers ORDER BY id`), " "); got != "C1" {
		t.Errorf("customers %s, want only C1, created before the revocation", got)
	}
}

// otherInstance is a second API server on h's database, as another process
// of the service would be: its own pool and ledger, sharing only the
// database; its key cache reads clock (nil: the wall clock).
func otherInstance(t *testing.T, h *harness, clock *keyClock) *harness {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), h.pool.Config().Copy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l := ledger.New(pool)
	cfg := wired(pool, l)
	cfg.OpenAPI, cfg.Ready = tally.OpenAPI, func(ctx context.Context) error { return pool.Ping(ctx) }
	s := New(cfg)
	if clock != nil {
		s.keys.now = clock.now
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, ledger: l, pool: pool, keys: h.keys}
}

// Another server that has the key in its cache refuses it within
// keyCacheTTL (one second) of the revocation committing, by the wall clock:
// every request that begins a second after RevokeKey returned is refused,
// and the server is asked until it refuses.
func TestRevokedKeyIsRefusedWithinASecondByAnotherServer(t *testing.T) {
	h := newHarness(t)
	other := otherInstance(t, h, nil)
	id := newPartnerKey(t, h, "revoked")
	rules := call{method: "GET", path: "/v1/rules", key: "revoked"}
	other.expect(http.StatusOK, rules) // now in other's cache
	if err := h.ledger.RevokeKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	wantRevoked(t, h.do(rules)) // the revoking server: at once
	for {
		began := time.Now()
		r := other.do(rules)
		if r.status != http.StatusOK {
			wantRevoked(t, r)
			break
		}
		if late := began.Sub(revoked); late >= time.Second {
			t.Fatalf("a request that began %v after the revocation was served", late)
		}
	}
}

// Another server trusts a key it read from the database for keyCacheTTL
// from the moment its read began, and asks again from then: a revocation
// committed meanwhile is seen, and a refusal is never cached as a success.
func TestCachedKeyIsTrustedUntilTheCacheWindowEndsAndRefusedFromThen(t *testing.T) {
	clock := &keyClock{}
	start := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	clock.set(start)
	h := newHarness(t)
	srv := otherInstance(t, h, clock)
	id := newPartnerKey(t, h, "revoked")
	wantStatus(t, createCustomer(srv, "revoked", "C1"), http.StatusCreated) // cached until start + keyCacheTTL
	if err := h.ledger.RevokeKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}

	// Within its window the cached key still works on the other server.
	clock.set(start.Add(keyCacheTTL - time.Nanosecond))
	wantStatus(t, createCustomer(srv, "revoked", "C2"), http.StatusCreated)

	// At the end of the window the server asks the database again, and from
	// then on the key is refused.
	clock.set(start.Add(keyCacheTTL))
	wantRevoked(t, createCustomer(srv, "revoked", "C3"))
	clock.add(keyCacheTTL)
	wantRevoked(t, createCustomer(srv, "revoked", "C3"))
	if got := strings.Join(h.textColumn(`SELECT id FROM customers ORDER BY id`), " "); got != "C1 C2" {
		t.Errorf("customers %s, want C1 and C2, created inside the window", got)
	}
}
