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
	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/replica"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// standbyRig is a cluster of a test's own, a real streaming standby of it,
// and the API serving reads from that standby as cmd/tally wires it.
type standbyRig struct {
	t        *testing.T
	pool     *pgxpool.Pool // the primary
	sbPool   *pgxpool.Pool // the standby
	set      *replica.Set
	registry *prometheus.Registry
	srv      *httptest.Server
	admin    string
}

// newStandbyRig starts the cluster in .data/<name> and its standby in
// .data/<name>-standby; standbyConf are settings for the standby
// (ALTER SYSTEM, then reloaded).
func newStandbyRig(t *testing.T, name string, standbyConf map[string]string) *standbyRig {
	t.Helper()
	ctx := context.Background()
	c, url := testdb.OwnCluster(t, name, pgdev.Options{Fast: true}, true)
	sbURL := testdb.OwnStandby(t, c)
	r := &standbyRig{t: t, registry: prometheus.NewRegistry()}
	var err error
	if r.pool, err = pgxpool.New(ctx, url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.pool.Close)
	if r.sbPool, err = pgxpool.New(ctx, sbURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sbPool.Close)
	for k, v := range standbyConf {
		if _, err := r.sbPool.Exec(ctx, `ALTER SYSTEM SET `+k+` = '`+v+`'`); err != nil {
			t.Fatal(err)
		}
	}
	if len(standbyConf) > 0 {
		if _, err := r.sbPool.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
			t.Fatal(err)
		}
		// A new session reads the file as reloaded.
		r.sbPool.Reset()
	}

	l := ledger.New(r.pool)
	cfg := wired(r.pool, l)
	cfg.Registry = r.registry
	// A lag bound the standby stays within for the test's length.
	r.set = replica.New(r.pool, []*pgxpool.Pool{r.sbPool}, time.Hour, 100*time.Millisecond)
	sl := ledger.New(r.sbPool, ledger.OnStandby()) // as cmd/tally builds it
	sc := loyalty.New(r.sbPool, sl)
	sm := prepaid.New(sl, sc)
	cfg.Reads = &Reads{Set: r.set, Services: []Services{{Ledger: sl, Loyalty: sc, Catalog: catalog.New(r.sbPool, sl, sc),
		Prepaid: sm, Finance: finance.New(sl, sc, sm)}}}
	wctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	r.set.Refresh(wctx)
	go r.set.Watch(wctx, 50*time.Millisecond)
	r.srv = httptest.NewServer(New(cfg))
	t.Cleanup(r.srv.Close)
	if r.admin, _, err = l.CreateKey(ctx, "admin", ledger.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	return r
}

// do sends a request as the admin, with the consistency token when not "".
func (r *standbyRig) do(method, path, token, body string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.admin)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(ConsistencyHeader, token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// caughtUp waits for the standby to replay up to token.
func (r *standbyRig) caughtUp(token string) {
	r.t.Helper()
	lsn, err := replica.ParseLSN(token)
	if err != nil {
		r.t.Fatal(err)
	}
	until(r.t, "the standby replays "+token, func() bool {
		var text string
		if err := r.sbPool.QueryRow(context.Background(), `SELECT pg_last_wal_replay_lsn()::text`).Scan(&text); err != nil {
			r.t.Fatal(err)
		}
		at, err := replica.ParseLSN(text)
		return err == nil && at >= lsn
	})
}

// until polls ok for 30 s at most, failing t then.
func until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for: %s", what)
		}
	}
}

// flush has the primary flush its WAL, and so send it to the standby, and
// waits for the standby to replay it. A record that commits nothing (a
// lock's, a rollback's) otherwise waits for the WAL writer, the cluster's
// commits being asynchronous; and a commit is flushed, even with
// synchronous_commit on, only when its transaction wrote a record before
// it (an xid alone is not enough), hence the message. WAL is replayed in
// order, so a lock the standby shows afterwards is not one an earlier
// transaction took and has since rolled back.
func (r *standbyRig) flush(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	tx, err := r.pool.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, `SET LOCAL synchronous_commit = on`)
	}
	if err == nil {
		_, err = tx.Exec(ctx, `SELECT pg_logical_emit_message(true, 'tally-test', 'flush')`)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	var lsn string
	if err == nil {
		err = r.pool.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text`).Scan(&lsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.caughtUp(lsn)
}

// counter is the value of the metric family name with the label pair
// (label, value), 0 when absent.
func (r *standbyRig) counter(name, label, value string) float64 {
	r.t.Helper()
	fams, err := r.registry.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
