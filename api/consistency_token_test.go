package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/replica"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// TestAWriteWhosePositionCannotBeReadStillAnswersAToken: the write
// commits, then the primary's WAL position cannot be read within
// replica.TokenTimeout (here the set reads it from a primary that never
// answers). The write is answered, with the token "primary", and a read
// that sends it back is served by the primary and sees the write.
func TestAWriteWhosePositionCannotBeReadStillAnswersAToken(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	l := ledger.New(pool)
	cfg := wired(pool, l)
	reg := prometheus.NewRegistry()
	cfg.Registry = reg
	// The "standby" is the primary's database, not in recovery: never in
	// rotation. Its services read the same data.
	set := replica.New(testdb.SilentPool(t), []*pgxpool.Pool{pool}, time.Hour, 100*time.Millisecond)
	sl := ledger.New(pool, ledger.OnStandby())
	sc := loyalty.New(pool, sl)
	sm := prepaid.New(sl, sc)
	cfg.Reads = &Reads{Set: set, Services: []Services{{Ledger: sl, Loyalty: sc, Catalog: catalog.New(pool, sl, sc),
		Prepaid: sm, Finance: finance.New(sl, sc, sm)}}}
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	admin, _, err := l.CreateKey(ctx, "admin", ledger.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, token, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set(ConsistencyHeader, token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(b)
	}
	start := time.Now()
	res, body := do("POST", "/v1/customers", "", `{"id":"T1","name":"Token"}`)
	took := time.Since(start)
	if res.StatusCode != 201 {
		t.Fatalf("customer: %d %s", res.StatusCode, body)
	}
	token := res.Header.Get(ConsistencyHeader)
	if token != primaryToken {
		t.Fatalf("a write whose position could not be read answered %s %q, want %q", ConsistencyHeader, token, primaryToken)
	}
	if took > replica.TokenTimeout+5*time.Second {
		t.Errorf("the write took %s: its token waited past its bound", took)
	}
	res, body = do("GET", "/v1/customers/T1", token, "")
	if res.StatusCode != 200 || res.Header.Get(readFromHeader) != "primary" || !strings.Contains(body, `"T1"`) {
		t.Errorf("read with the token %q: %d from %q: %s; want 200 from the primary", token, res.StatusCode, res.Header.Get(readFromHeader), body)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var unread float64
	for _, f := range fams {
		if f.GetName() == "tally_consistency_tokens_unread_total" {
			unread = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if unread != 1 {
		t.Errorf("tally_consistency_tokens_unread_total %v, want 1", unread)
	}
}
