package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/testdb"
)

// TestChaosFailover runs the chaos clients against the server on a
// replicated cluster (pg_auto_failover: a primary and two synchronous
// standbys, DATABASE_URL listing the three with
// target_session_attrs=read-write), kills the primary node (its keeper and
// its postmaster, SIGKILL: the machine is gone), lets the monitor promote a
// standby while the load goes on, starts the dead node again (it rejoins
// as a standby), then kills the server once; the full run then kills the
// new primary too, once the cluster is whole again. Afterwards the oracle judges
// every answer against the books read from the new primary, as TestChaos
// does: every acknowledged operation present exactly once, every refused
// one absent, reconciliation passing. A probe registers a customer every
// 100 ms throughout: the time from a death to the acknowledgement of the
// first registration sent after it is how long writes were unavailable,
// printed at the end.
//
// `go test ./internal/chaos` runs a short version (part of make test);
// `make chaos-failover` runs the full one (-chaos.full).
func TestChaosFailover(t *testing.T) {
	duration, limit, killPrimaryAt, killServerAt, minAcked, sweep := 22*time.Second, 60*time.Second,
		5*time.Second, 16*time.Second, 600, 200
	killPrimaryAgainAt := time.Duration(0) // -chaos.full only
	if *full {
		duration, limit, killPrimaryAt, killServerAt, minAcked, sweep = 100*time.Second, 180*time.Second,
			15*time.Second, 40*time.Second, 3000, 1000
		killPrimaryAgainAt = 65 * time.Second
	}
	root, err := testdb.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".data", "hachaos")
	ha, err := pgdev.OpenHA(dir, pgdev.Options{Log: t.Logf})
	if err != nil {
		t.Fatal(err) // pg_autoctl missing: the message says what to install
	}
	ha.Stop() // a cluster an earlier run left behind
	os.RemoveAll(dir)
	ctx := context.Background()
	started := time.Now()
	url, readURL, err := ha.Start(ctx, "tally")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ha.Stop(); err != nil {
			t.Logf("stop the cluster: %v", err)
		}
	})
	t.Logf("replicated cluster up in %s", time.Since(started).Round(time.Second))

	srv := newServer(t, root, "DATABASE_URL="+url, "TALLY_READ_DATABASE_URL="+readURL, "TALLY_READ_MAX_LAG=2s", "TALLY_READ_WAIT=5s")
	srv.start()
	defer func() { srv.kill() }()

	rep := &reporter{t: t}
	c := &client{http: &http.Client{Timeout: 10 * time.Second}, base: "http://" + srv.addr, fail: rep.fail}
	t.Run("ReadYourWritesFromStandbys", func(t *testing.T) { readYourWrites(t, c, ha) })
	sc := setup(t, c, url)
	seedExpired(t, url, sc)

	ld := startLoad(c, sc, rep.fail, duration, limit, minAcked)
	began := ld.began
	// The probe runs until every failover has been judged, not until the
	// load's own end: a slow promotion must not leave it stopped before
	// the first write it is waiting for.
	pr := &probe{c: c}
	probeStop, probeDone := make(chan struct{}), make(chan struct{})
	go pr.run(probeStop, probeDone)

	// The primary dies: the monitor promotes a standby, the dead node
	// comes back and rejoins as a standby. Under -chaos.full this happens
	// twice, the second time once the cluster is whole again.
	type failover struct {
		old, promoted pgdev.HANode
		killed        time.Time
		promotedAfter time.Duration
	}
	var failovers []failover
	killPrimary := func() {
		end := c.disrupt()
		old, err := ha.Primary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		oldIndex, err := ha.NodeIndex(old.Port)
		if err != nil {
			t.Fatal(err)
		}
		if err := ha.KillNode(oldIndex); err != nil {
			t.Fatal(err)
		}
		killed := time.Now() // dead: nothing sent from now on is written by it
		promoted, err := ha.WaitPrimary(ctx, old.Port, 2*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		promotedAfter := time.Since(killed)
		failovers = append(failovers, failover{old: old, promoted: promoted, killed: killed, promotedAfter: promotedAfter})
		t.Logf("primary %s killed; %s promoted after %s", old.Name, promoted.Name, promotedAfter.Round(100*time.Millisecond))
		if !pr.ackedAfter(killed, time.Minute) {
			t.Fatalf("no write acknowledged within a minute of the promotion of %s", promoted.Name)
		}
		end(3 * time.Second)
		if err := ha.StartNode(oldIndex); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Until(began.Add(killPrimaryAt)))
	killPrimary()

	// The server dies.
	time.Sleep(time.Until(began.Add(killServerAt)))
	end := c.disrupt()
	srv.kill()
	serverKilled := time.Now()
	time.Sleep(time.Second)
	srv.start()
	end(2 * time.Second)

	if *full {
		if err := ha.WaitHealthy(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(began.Add(killPrimaryAgainAt)))
		killPrimary()
	}
	replays, ran := ld.finish(sweep)
	close(probeStop)
	<-probeDone
	// Balances read from standbys: with the token of a write made after
	// every other, so that they show everything.
	hdr, status, body := exchange(t, c, "POST", "/v1/customers", mustJSON(map[string]any{"id": "P-last", "name": "probe"}), nil)
	if status != 201 {
		t.Fatalf("last write: %d %s", status, oneLine(body))
	}
	token := map[string]string{"Tally-Consistency-Token": hdr.Get("Tally-Consistency-Token")}
	apiBalances := map[string]customerBalances{}
	for _, id := range slices.Concat(kCustomers, eCustomers, xCustomers, oCustomers) {
		_, status, body := exchange(t, c, "GET", "/v1/customers/"+id+"/balances", nil, token)
		var b customerBalances
		if status != 200 || json.Unmarshal(body, &b) != nil {
			t.Fatalf("balances of %s: %d %s", id, status, oneLine(body))
		}
		apiBalances[id] = b
	}
	now := time.Now()

	// The books, from whichever node is primary now.
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var port int
	if err := pool.QueryRow(ctx, `SELECT inet_server_port()`).Scan(&port); err != nil {
		t.Fatal(err)
	}
	if last := failovers[len(failovers)-1]; port != last.promoted.Port {
		t.Errorf("the books were read from port %d, not from %s (port %d), the node promoted last", port, last.promoted.Name, last.promoted.Port)
	}
	b, err := readBooks(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	o := ld.judge(t, b, replays, apiBalances, now, rep.fail)
	reply, err := c.send("GET", "/v1/reconciliation", nil) // on the primary
	var rec struct {
		Pass bool `json:"pass"`
	}
	invariants := "ok"
	if err != nil || reply.status != 200 || json.Unmarshal(reply.body, &rec) != nil || !rec.Pass {
		invariants = "FAILED"
		rep.fail("reconciliation on the new primary: %d %s %v", reply.status, oneLine(reply.body), err)
	}
	if !chainVerifies(c, rep.fail) {
		invariants = "FAILED"
	}
	if o.acked < minAcked {
		rep.fail("only %d operations acknowledged, fewer than %d: the run proves little", o.acked, minAcked)
	}
	// What the server could not finish while the primary was gone it
	// answered 503 database_unavailable: the client retried those as any
	// 5xx, so the server's own log tells whether one was a 500.
	logged, err := os.ReadFile(srv.log.Name())
	if err != nil {
		t.Fatal(err)
	}
	// A 5xx's request line comes with the line saying why (errorHandler's
	// "request failed", with the same request id), so that a failure is
	// read from the test's output: the log is gone with the test.
	lines := bytes.Split(logged, []byte("\n"))
	why := map[string][]byte{}
	for _, line := range lines {
		var l struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "request failed" {
			why[l.RequestID] = line
		}
	}
	for _, line := range lines {
		var l struct {
			Status    int    `json:"status"`
			Method    string `json:"method"`
			Route     string `json:"route"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(line, &l) == nil && l.Status >= 500 && l.Status != 503 {
			rep.fail("the server answered %d to %s %s: %s; why: %s", l.Status, l.Method, l.Route, oneLine(line), oneLine(why[l.RequestID]))
		}
	}
	fmt.Printf("ops acknowledged %d, lost %d, duplicated %d, refused-but-written %d, invariants %s (on %s), "+
		"content-checked %d, replays byte-equal %d of %d, refusals by code %d (%d retries, %d transport failures outside disruptions, "+
		"%d primaries killed, 1 server kill, %s)\n",
		o.acked, o.lost, o.duplicated, o.wrongly, invariants, failovers[len(failovers)-1].promoted.Name,
		o.checked, o.byteEqual, o.replays, o.refusals, c.retries.Load(), c.transportOutside.Load(), len(failovers), ran)
	for _, f := range failovers {
		fmt.Printf("writes unavailable: %s after primary %s was killed (from its death to the acknowledgement of the first write "+
			"sent after it, on %s, promoted after %s)\n", pr.gap(f.killed).Round(100*time.Millisecond), f.old.Name, f.promoted.Name,
			f.promotedAfter.Round(100*time.Millisecond))
	}
	fmt.Printf("writes unavailable: %s after the server was killed (1 s down, then restart)\n", pr.gap(serverKilled).Round(100*time.Millisecond))
}

// probe registers a new customer every 100 ms and keeps when each
// acknowledged one was sent and acknowledged: the gaps are when writes
// were unavailable.
type probe struct {
	c    *client
	mu   sync.Mutex
	acks []probeAck
}

type probeAck struct{ sent, acked time.Time }

func (p *probe) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		sent := time.Now()
		reply, err := p.c.send("POST", "/v1/customers", mustJSON(map[string]any{"id": fmt.Sprintf("P%d", n), "name": "probe"}))
		if err == nil && reply.status == 201 {
			p.mu.Lock()
			p.acks = append(p.acks, probeAck{sent, time.Now()})
			p.mu.Unlock()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ackedAfter waits up to limit for the acknowledgement of a write sent
// after at.
func (p *probe) ackedAfter(at time.Time, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if p.gap(at) >= 0 {
			return true
		}
	}
	return false
}

// gap is the time from at to the acknowledgement of the first write sent
// after it; -1 when there is none.
func (p *probe) gap(at time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.acks {
		if a.sent.After(at) {
			return a.acked.Sub(at)
		}
	}
	return -1
}
