package api

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// relay is a TCP relay between the API's pool and PostgreSQL that a test
// breaks as a failover breaks the primary: down closes every connection
// and refuses new ones (the primary is gone), up lets them through again
// (the new primary), and cutAtCommit drops the next answer that tells a
// write committed, with its connection (the primary died after
// committing, before the server heard).
type relay struct {
	t      *testing.T
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	cut    bool          // the next answer of a commit is cut
	cutted chan struct{} // closed when it was
}

func newRelay(t *testing.T, target string) *relay {
	r := &relay{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(func() { r.down() })
	return r
}

func (r *relay) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.pipe(c)
		}
	}()
}

func (r *relay) pipe(client net.Conn) {
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		client.Close()
		return
	}
	r.mu.Lock()
	r.conns[client], r.conns[server] = true, true
	r.mu.Unlock()
	closeBoth := func() { client.Close(); server.Close() }
	go func() {
		defer closeBoth()
		io.Copy(server, client)
	}()
	// Armed, the relay cuts the first answer that tells the server is idle
	// again (ReadyForQuery, status I) after a write's CommandComplete: the
	// write committed (an implicit transaction, or a COMMIT).
	writeTag := regexp.MustCompile(`C\x00\x00\x00.(INSERT 0 |UPDATE |DELETE |COMMIT\x00)`)
	idle := []byte("Z\x00\x00\x00\x05I")
	wrote := false
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			r.mu.Lock()
			armed := r.cut
			cut := false
			if armed {
				wrote = wrote || writeTag.Match(chunk)
				if bytes.HasSuffix(chunk, idle) {
					cut, wrote = wrote && !bytes.Contains(chunk, []byte("ROLLBACK\x00")), false
				}
				if cut {
					r.cut = false
					close(r.cutted)
				}
			}
			r.mu.Unlock()
			if cut {
				closeBoth()
				return
			}
			if _, werr := client.Write(chunk); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	closeBoth()
}

// down closes the listener and every relayed connection.
func (r *relay) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln != nil {
		r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		c.Close()
	}
	clear(r.conns)
}

// up listens again on the same address.
func (r *relay) up() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.serve(ln)
}

// cutAtCommit arms the cut of the next answer of a commit; the channel
// closes when it happened.
func (r *relay) cutAtCommit() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut, r.cutted = true, make(chan struct{})
	return r.cutted
}

// newRelayedHarness is newHarness with the API's pool connected through a
// relay; the harness's ledger and pool (the test's view of the books) go
// to PostgreSQL directly.
func newRelayedHarness(t *testing.T) (*harness, *relay, *pgxpool.Pool) {
	t.Helper()
	spec(t)
	direct := testdb.Pool(t)
	u, err := url.Parse(direct.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	rl := newRelay(t, u.Host)
	u.Host = rl.addr
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	apiPool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(apiPool.Close)
	l := ledger.New(apiPool)
	c := wired(apiPool, l)
	c.OpenAPI, c.Ready = tally.OpenAPI, func(ctx context.Context) error { return apiPool.Ping(ctx) }
	srv := httptest.NewUnstartedServer(New(c))
	srv.Listener = Listener(srv.Config, srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, ledger: ledger.New(direct), pool: direct, keys: map[string]string{}}
	for _, name := range []string{"admin", "partner", "finance", "fresh"} {
		role := ledger.Role(name)
		if name == "fresh" {
			role = ledger.RoleAdmin
		}
		secret, _, err := h.ledger.CreateKey(context.Background(), name, role, "")
		if err != nil {
			t.Fatal(err)
		}
		h.keys[name] = secret
	}
	return h, rl, apiPool
}

// wantDatabaseUnavailable checks a 503 database_unavailable with its
// Retry-After.
func wantDatabaseUnavailable(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != 503 {
		t.Errorf("%s: status %d, want 503 database_unavailable: %s", what, r.status, r.body)
		return
	}
	wantProblem(t, r, 503, fault.DatabaseUnavailable)
	if got := r.header.Get("Retry-After"); got != retryAfter {
		t.Errorf("%s: Retry-After %q, want %q", what, got, retryAfter)
	}
}

// TestEveryOperationAnswers503WhileThePrimaryIsGone takes the database
// away under a running API: every operation under /v1 (a key it has not
// met yet, so authentication itself needs the database) and the
// operations that read and write with a key it knows answer 503
// database_unavailable with Retry-After, never a 500; a write sent then is
// not in the books; once the database is back the pool reconnects by
// itself and the same requests succeed.
func TestEveryOperationAnswers503WhileThePrimaryIsGone(t *testing.T) {
	h, rl, _ := newRelayedHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "admin"})
	h.expect(200, call{method: "GET", path: "/v1/reports/trial-balance", key: "finance"})

	rl.down()
	doc, _ := spec(t)
	ops := 0
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/v1/") {
			continue
		}
		for method := range item.Operations() {
			p := regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(path, "x")
			var body any
			if method != "GET" {
				body = map[string]any{}
			}
			wantDatabaseUnavailable(t, method+" "+path, h.do(call{method: method, path: p, key: "fresh", body: body, invalid: true}))
			ops++
		}
	}
	if ops < 40 {
		t.Fatalf("only %d operations under /v1 in openapi.yaml", ops)
	}
	down := []call{
		{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Hour))},
		{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "100"}},
		{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("120", "C1"), header: map[string]string{"Idempotency-Key": "k1"}},
		{method: "GET", path: "/v1/customers/C1/balances", key: "admin"},
		{method: "GET", path: "/v1/customers/C1/statement", key: "admin"},
		{method: "GET", path: "/v1/reports/trial-balance?format=csv", key: "finance"},
		{method: "GET", path: "/v1/reconciliation", key: "finance"},
	}
	for _, c := range down {
		wantDatabaseUnavailable(t, c.method+" "+c.path+" (known key)", h.do(c))
	}
	var entries int
	if err := h.pool.QueryRow(context.Background(), `SELECT count(*) FROM entries`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 0 {
		t.Errorf("%d entries written while the database was unreachable", entries)
	}

	rl.up()
	for _, c := range down {
		want := 200
		if c.method == "POST" {
			want = 201
		}
		if r := h.do(c); r.status != want || r.header.Get("Idempotent-Replayed") == "true" {
			t.Errorf("%s %s after the database came back: %d (replayed %q), want %d done now: %s",
				c.method, c.path, r.status, r.header.Get("Idempotent-Replayed"), want, r.body)
		}
	}
}

// TestWritesToAReadOnlyDatabaseAnswer503: a server that is read-only (a
// standby, a demoted primary) refuses every write with 503
// database_unavailable and writes nothing, while reads are answered.
func TestWritesToAReadOnlyDatabaseAnswer503(t *testing.T) {
	h, _, apiPool := newRelayedHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	readOnly := func(on bool) {
		t.Helper()
		db := h.pool.Config().ConnConfig.Database
		if _, err := h.pool.Exec(context.Background(), "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+
			" SET default_transaction_read_only = "+map[bool]string{true: "on", false: "off"}[on]); err != nil {
			t.Fatal(err)
		}
		apiPool.Reset()
	}
	readOnly(true)
	writes := []call{
		{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Hour))},
		{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "100"}},
		{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("120", "C1"), header: map[string]string{"Idempotency-Key": "k1"}},
	}
	for _, c := range writes {
		wantDatabaseUnavailable(t, c.method+" "+c.path, h.do(c))
	}
	h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "admin"})
	readOnly(false)
	for _, c := range writes {
		if r := h.do(c); r.status != 201 || r.header.Get("Idempotent-Replayed") == "true" {
			t.Errorf("%s %s once writable: %d (replayed %q), want 201 done now: %s", c.method, c.path, r.status,
				r.header.Get("Idempotent-Replayed"), r.body)
		}
	}
}

// TestAWriteWhoseCommitAnswerIsLostLandsOnceOnRetry: the database commits
// a write and the connection breaks before the server hears (a primary
// dying right after its commit was replicated). The client gets 503 (or
// the result, should the server find its write committed), sends the same
// request again, and gets the first result replayed: the books hold it
// once.
func TestAWriteWhoseCommitAnswerIsLostLandsOnceOnRetry(t *testing.T) {
	h, rl, _ := newRelayedHarness(t)
	for _, id := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
	}
	h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "admin"}) // the key is cached
	for _, c := range []struct {
		call
		account, amount string // the one movement the write makes on the customer ("": any amount)
	}{
		{call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C2", "S1", "100", time.Now().Add(-time.Hour))},
			"customer:C2:points", ""},
		{call{method: "POST", path: "/v1/entries", key: "admin", body: adjustment("120", "C1"),
			header: map[string]string{"Idempotency-Key": "k1"}}, "customer:C1:points", "120"},
		{call{method: "POST", path: "/v1/deposits", key: "partner",
			body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "100"}}, "customer:C1:prepaid", "100"},
	} {
		cut := rl.cutAtCommit()
		first := h.do(c.call)
		select {
		case <-cut:
		default:
			t.Fatalf("%s: no commit was cut", c.path)
		}
		// 503, or the write itself when the server found it committed
		// (the event writers try a failed group again, and find it).
		if first.status != 201 {
			wantDatabaseUnavailable(t, c.path+" cut at its commit", first)
		}
		again := h.do(c.call)
		if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("%s sent again: %d, replayed %q; want 201 replayed (it committed): %s", c.path, again.status,
				again.header.Get("Idempotent-Replayed"), again.body)
		}
		var n int
		var sum decimal.Decimal
		if err := h.pool.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(p.amount), 0) FROM postings p
			JOIN accounts a ON a.id = p.account_id WHERE a.code = $1`, c.account).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		if n != 1 || (c.amount != "" && !sum.Equal(decimal.RequireFromString(c.amount))) {
			t.Errorf("%s: %d postings summing to %s on %s, want one of %s", c.path, n, sum, c.account, c.amount)
		}
	}
}
