// Command loadgen is `make bench`: it starts its own durable PostgreSQL
// (fsync and synchronous_commit on), measures the bare database with pgbench
// (TPC-B-like, 8 clients), starts the real tally binary, drives it over HTTP
// on loopback through five scenarios, and writes every figure it measured to
// docs/BENCHMARKS.md. Nothing in the report is typed in.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/pgdev"
)

const adminKey = "bench-admin-key-0123456789abcdef"

var (
	bin      = flag.String("bin", "bin/tally", "the tally binary")
	out      = flag.String("out", "docs/BENCHMARKS.md", "where to write the report")
	duration = flag.Duration("duration", 15*time.Second, "length of each scenario")
	pgbenchT = flag.Duration("pgbench", 20*time.Second, "length of the pgbench run")
	// The load generator needs a third of a core; on one P it leaves the
	// rest to the server and the database, and its scheduler spins less.
	procs = flag.Int("procs", 1, "GOMAXPROCS of the load generator (0: Go's default)")
	only  = flag.String("only", "", "profiling: run only these scenarios (\"1,3\"), print them and write no report")
)

// want reports whether scenario n runs.
func want(n int) bool {
	return *only == "" || slices.Contains(strings.Split(*only, ","), strconv.Itoa(n))
}

func main() {
	flag.Parse()
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type result struct {
	name     string
	ops      int64 // requests (or events, for batches) done
	unit     string
	elapsed  time.Duration
	p50, p99 time.Duration
	errors   int64
	peakRSS  int64 // kB
	note     string
	readP50  time.Duration
	readP99  time.Duration
	readOps  int64
	hasReads bool
}

func (r result) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func run() error {
	ctx := context.Background()
	dir, _ := filepath.Abs(".data/pgbench")
	os.RemoveAll(dir)
	// pg_stat_statements shows where the database's time goes, per statement.
	cluster, err := pgdev.Open(dir, pgdev.Options{Log: logf,
		Settings: "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = 'top'\npg_stat_statements.track_planning = on\n"})
	if err != nil {
		return err
	}
	url, _, err := cluster.Ensure(ctx, "tally")
	if err != nil {
		return err
	}
	defer cluster.Stop()
	binDir, _ := pgdev.FindBinDir()

	// 1. The bare database.
	pgURL, _, err := cluster.Ensure(ctx, "pgbench")
	if err != nil {
		return err
	}
	logf("pgbench: initialising (scale 10)")
	if out, err := exec.Command(filepath.Join(binDir, "pgbench"), "-i", "-q", "-s", "10", pgURL).CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v: %s", err, out)
	}
	logf("pgbench: TPC-B-like, 8 clients, %s", *pgbenchT)
	pgOut, err := exec.Command(filepath.Join(binDir, "pgbench"), "-c", "8", "-j", "2", "-T",
		strconv.Itoa(int(pgbenchT.Seconds())), "-M", "prepared", pgURL).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgbench: %v: %s", err, pgOut)
	}
	m := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(pgOut)
	if m == nil {
		return fmt.Errorf("no tps in pgbench's output:\n%s", pgOut)
	}
	pgTPS, _ := strconv.ParseFloat(string(m[1]), 64)
	logf("pgbench: %.0f tps", pgTPS)

	// 2. The service.
	srv, err := startServer(url)
	if err != nil {
		return err
	}
	defer srv.stop()
	c := &client{base: "http://" + srv.addr, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}}

	logf("setup: 10,000 customers, products, deposits")
	if err := setup(c); err != nil {
		return err
	}
	var results []result
	seq := atomic.Int64{}
	event := func(customers int) func(*rand.Rand) (string, any) {
		return func(r *rand.Rand) (string, any) {
			n := seq.Add(1)
			return "/v1/events", map[string]any{"event_id": fmt.Sprintf("ev-%d", n), "type": "shipment.completed",
				"customer_id": fmt.Sprintf("B%05d", r.IntN(customers)), "shipment_id": fmt.Sprintf("S%d", n),
				"amount": fmt.Sprintf("%d.%02d", 1+r.IntN(500), r.IntN(100)), "occurred_at": time.Now().Add(-time.Second).Format(time.RFC3339Nano)}
		}
	}
	var (
		stmts [2]string
		cpu   ticks
		prof  []byte
	)
	if want(1) {
		resetStatements(ctx, url)
		cpuBefore := cpuTicks(srv)
		profile := make(chan []byte, 1)
		go func() { profile <- cpuProfile(srv, *duration-2*time.Second) }()
		results = append(results, drive("1. single shipment.completed events, 32 clients, 10,000 customers", c, srv, 32, *duration, event(10000)))
		cpu = cpuTicks(srv).minus(cpuBefore)
		stmts[0] = topStatements(ctx, url)
		prof = <-profile
	}
	if want(2) {
		results = append(results, drive("2. the same against 10 customers", c, srv, 32, *duration, event(10)))
	}
	if want(3) {
		resetStatements(ctx, url)
		batch := drive("3. POST /v1/events/batch of 500 events, 4 clients", c, srv, 4, *duration, func(r *rand.Rand) (string, any) {
			events := make([]any, 500)
			for i := range events {
				_, events[i] = event(10000)(r)
			}
			return "/v1/events/batch", map[string]any{"events": events}
		})
		batch.ops, batch.unit = batch.ops*500, "events/s"
		stmts[1] = topStatements(ctx, url)
		results = append(results, batch)
	}
	if want(4) {
		results = append(results, drive("4. mix: deposits, charges, redemptions, balance reads, 32 clients", c, srv, 32, *duration,
			func(r *rand.Rand) (string, any) {
				n := seq.Add(1)
				cust := fmt.Sprintf("B%05d", r.IntN(1000))
				switch r.IntN(4) {
				case 0:
					return "/v1/deposits", map[string]any{"deposit_id": fmt.Sprintf("d%d", n), "customer_id": cust, "amount": "1200.00"}
				case 1:
					return "/v1/charges", map[string]any{"charge_id": fmt.Sprintf("c%d", n), "customer_id": cust, "amount": "35.50", "shipment_id": fmt.Sprintf("S%d", n)}
				case 2:
					return "/v1/redemptions", map[string]any{"redemption_id": fmt.Sprintf("r%d", n), "customer_id": cust, "sku": "pen", "quantity": 1}
				}
				return "GET /v1/customers/" + cust + "/balances", nil
			}))
	}
	if want(5) {
		logf("scenario 5: seeding 1,000,000 postings")
		if err := seedPostings(ctx, url); err != nil {
			return err
		}
		results = append(results, readsUnderLoad(c, srv, event(10000)))
	}
	if *only != "" {
		for _, r := range results {
			fmt.Printf("%s: %.0f %s (%.2fx pgbench's %.0f tps), p50 %s, p99 %s, peak RSS %d MB, %d errors\n", r.name, r.rate(), r.unit,
				r.rate()/pgTPS, pgTPS, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.peakRSS/1024, r.errors)
			if r.hasReads {
				fmt.Printf("  reads: p50 %s, p99 %s; %s\n", r.readP50.Round(10*time.Microsecond), r.readP99.Round(10*time.Microsecond), r.note)
			}
		}
		if total := float64(cpu.postgres + cpu.server + cpu.loadgen); total > 0 {
			fmt.Printf("scenario 1 CPU: PostgreSQL %.0f%%, server %.0f%%, load generator %.0f%% (%.1f core-seconds)\n",
				100*float64(cpu.postgres)/total, 100*float64(cpu.server)/total, 100*float64(cpu.loadgen)/total, total/100)
		}
		fmt.Printf("%s\n%s\n%s", stmts[0], stmts[1], prof)
		return nil
	}
	return report(results, pgTPS, cpu, prof, stmts)
}

// resetStatements starts pg_stat_statements' counts afresh.
func resetStatements(ctx context.Context, url string) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		logf("pg_stat_statements: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		logf("pg_stat_statements: %v", err)
		return
	}
	if _, err := conn.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		logf("pg_stat_statements: %v", err)
	}
}

// topStatements is the statements that took the most database time since
// the last reset, as a table.
func topStatements(ctx context.Context, url string) string {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT calls, round(total_exec_time)::bigint, round(total_plan_time)::bigint,
    round(100 * (total_exec_time + total_plan_time) / nullif(sum(total_exec_time + total_plan_time) OVER (), 0))::int,
    round(1000 * mean_exec_time)::bigint, rows, regexp_replace(query, '\s+', ' ', 'g')
FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time + total_plan_time DESC LIMIT 12`)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString("| calls | executing ms | planning ms | share | mean µs | rows | statement |\n|---|---|---|---|---|---|---|\n")
	var (
		calls, total, plan, mean, n int64
		share                       int32
		query                       string
	)
	_, err = pgx.ForEachRow(rows, []any{&calls, &total, &plan, &share, &mean, &n, &query}, func() error {
		if len(query) > 110 {
			query = query[:110] + "…"
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %d%% | %d | %d | `%s` |\n", calls, total, plan, share, mean, n, strings.ReplaceAll(query, "|", "\\|"))
		return nil
	})
	if err != nil {
		return err.Error()
	}
	return b.String()
}

// ticks is CPU time (user + system, in clock ticks) by process group.
type ticks struct{ postgres, server, loadgen int64 }

func (t ticks) minus(o ticks) ticks {
	return ticks{t.postgres - o.postgres, t.server - o.server, t.loadgen - o.loadgen}
}

func procTicks(pid string) (string, int64) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0
	}
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < 0 {
		return "", 0
	}
	fields := strings.Fields(s[close+2:])
	if len(fields) < 13 {
		return "", 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	k, _ := strconv.ParseInt(fields[12], 10, 64)
	return s[open+1 : close], u + k
}

// cpuTicks reads the CPU time so far of PostgreSQL's processes, the server
// and this load generator.
func cpuTicks(srv *server) ticks {
	var t ticks
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if comm, n := procTicks(e.Name()); comm == "postgres" {
			t.postgres += n
		}
	}
	_, t.server = procTicks(strconv.Itoa(srv.cmd.Process.Pid))
	_, t.loadgen = procTicks(strconv.Itoa(os.Getpid()))
	return t
}

// cpuProfile takes a CPU profile of the server for d and returns pprof's
// top functions as text.
func cpuProfile(srv *server, d time.Duration) []byte {
	res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", srv.pprof, int(d.Seconds())))
	if err != nil {
		return []byte(err.Error())
	}
	defer res.Body.Close()
	f, err := os.CreateTemp("", "tally-*.pprof")
	if err != nil {
		return []byte(err.Error())
	}
	defer os.Remove(f.Name())
	io.Copy(f, res.Body)
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", *bin, f.Name()).CombinedOutput()
	if err != nil {
		return append(out, []byte(err.Error())...)
	}
	return out
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

type server struct {
	cmd   *exec.Cmd
	addr  string
	pprof string
}

func startServer(url string) (*server, error) {
	addr, pprofAddr := freeAddr(), freeAddr()
	cmd := exec.Command(*bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "TALLY_ADDR="+addr, "TALLY_ADMIN_KEY="+adminKey, "TALLY_LOG_LEVEL=error",
		"TALLY_PPROF_ADDR="+pprofAddr)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return &server{cmd: cmd, addr: addr, pprof: pprofAddr}, nil
			}
		}
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("server not ready")
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *server) stop() { s.cmd.Process.Signal(os.Interrupt); s.cmd.Wait() }

// rss is the server's resident set now, in kB.
func (s *server) rss() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n
}

type client struct {
	base string
	http *http.Client
}

func (c *client) do(method, path string, body any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func setup(c *client) error {
	var wg sync.WaitGroup
	var failed atomic.Int64
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				if code, err := c.do("POST", "/v1/customers", map[string]any{"id": fmt.Sprintf("B%05d", i), "name": "bench"}); err != nil || code >= 300 {
					failed.Add(1)
				}
				if i < 1000 {
					c.do("POST", "/v1/deposits", map[string]any{"deposit_id": fmt.Sprintf("seed-%d", i), "customer_id": fmt.Sprintf("B%05d", i), "amount": "100000.00"})
					c.do("POST", "/v1/events", map[string]any{"event_id": fmt.Sprintf("seed-%d", i), "type": "shipment.completed",
						"customer_id": fmt.Sprintf("B%05d", i), "shipment_id": fmt.Sprintf("seed-%d", i), "amount": "100000.00",
						"occurred_at": time.Now().Add(-time.Minute).Format(time.RFC3339)})
				}
			}
		})
	}
	for i := range 10000 {
		work <- i
	}
	close(work)
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d customers failed", failed.Load())
	}
	_, err := c.do("POST", "/v1/products", map[string]any{"sku": "pen", "name": "Pen", "kind": "standard", "points_price": "10"})
	return err
}

// drive runs the request maker from n clients for d and measures.
func drive(name string, c *client, srv *server, n int, d time.Duration, next func(*rand.Rand) (string, any)) result {
	logf("%s (%s)", name, d)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errors    atomic.Int64
		peak      atomic.Int64
		wg        sync.WaitGroup
	)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
				if r := srv.rss(); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	start := time.Now()
	stop := start.Add(d)
	for w := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			var mine []time.Duration
			for time.Now().Before(stop) {
				path, body := next(r)
				method := "POST"
				if m, p, ok := strings.Cut(path, " "); ok {
					method, path = m, p
				}
				t0 := time.Now()
				code, err := c.do(method, path, body)
				mine = append(mine, time.Since(t0))
				if err != nil || code >= 500 {
					errors.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(done)
	elapsed := time.Since(start)
	res := result{name: name, ops: int64(len(latencies)), unit: "requests/s", elapsed: elapsed, errors: errors.Load(), peakRSS: peak.Load()}
	res.p50, res.p99 = percentiles(latencies)
	logf("  %.0f %s, p50 %s, p99 %s, peak RSS %d MB, %d errors", res.rate(), res.unit, res.p50, res.p99, res.peakRSS/1024, res.errors)
	return res
}

func percentiles(l []time.Duration) (time.Duration, time.Duration) {
	if len(l) == 0 {
		return 0, 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[len(l)/2], l[len(l)*99/100]
}

// readsUnderLoad is scenario 5: balance and statement reads by 8 clients
// while 32 others post events, with a million postings in the books.
func readsUnderLoad(c *client, srv *server, event func(*rand.Rand) (string, any)) result {
	var reads result
	var wg sync.WaitGroup
	wg.Go(func() {
		reads = drive("5. balance and statement reads (8 clients) with 1,000,000 postings, while scenario 1 runs", c, srv, 8, *duration,
			func(r *rand.Rand) (string, any) {
				cust := fmt.Sprintf("B%05d", r.IntN(1000))
				if r.IntN(2) == 0 {
					return "GET /v1/customers/" + cust + "/balances", nil
				}
				return "GET /v1/accounts/customer:" + cust + ":points/balance", nil
			})
	})
	writes := drive("5. (the writes beside it)", c, srv, 32, *duration, event)
	wg.Wait()
	writes.name = "5. balance reads with 1,000,000 postings, while scenario 1 runs"
	writes.hasReads, writes.readP50, writes.readP99, writes.readOps = true, reads.p50, reads.p99, reads.ops
	writes.peakRSS = max(writes.peakRSS, reads.peakRSS)
	statement := drive("5b. statement pages", c, srv, 8, *duration/3, func(r *rand.Rand) (string, any) {
		return "GET /v1/customers/" + fmt.Sprintf("B%05d", r.IntN(1000)) + "/statement?limit=50", nil
	})
	writes.note = fmt.Sprintf("statement page (50 entries) alone: p50 %s, p99 %s", statement.p50.Round(10*time.Microsecond), statement.p99.Round(10*time.Microsecond))
	return writes
}

// seedPostings writes a million postings (500,000 balanced entries between
// the first 1,000 customers' points and the volume channel) straight in SQL.
func seedPostings(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE TEMP TABLE seed AS SELECT g AS n FROM generate_series(1, 500000) g`,
		`INSERT INTO entries (kind, effective_at, request_hash, actor) SELECT 'seed', now() - interval '1 day', '\x00', 'bench' FROM seed`,
		`CREATE TEMP TABLE seeded AS SELECT e.id, a.id AS account_id
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM entries WHERE kind = 'seed') e
JOIN accounts a ON a.code = 'customer:B' || lpad((e.n % 1000)::text, 5, '0') || ':points'`,
		// A customer's postings carry the balance after them, as the ledger's
		// do: what the account held, plus the seeded points so far.
		`INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at)
SELECT s.id, x.account_id, 'PTS', x.amount, x.after, now() - interval '1 day'
FROM (SELECT s.*, b.balance + row_number() OVER (PARTITION BY s.account_id ORDER BY s.id) AS after
      FROM seeded s JOIN balance_buckets b ON b.account_id = s.account_id AND b.bucket = 0) s
CROSS JOIN LATERAL (VALUES (s.account_id, 1, s.after),
    ((SELECT id FROM accounts WHERE code = 'platform:points:earned:volume'), -1, NULL)) x (account_id, amount, after)`,
		`INSERT INTO points_lots (account_id, entry_id, amount, remaining, available_at, expires_at)
SELECT account_id, id, 1, 1, now() - interval '1 day', now() + interval '1 year' FROM seeded`,
		`UPDATE balance_buckets b SET balance = b.balance + s.n FROM (SELECT account_id, count(*) AS n FROM seeded GROUP BY 1) s
WHERE b.account_id = s.account_id AND b.bucket = 0`,
		`UPDATE balance_buckets SET balance = balance - 500000
WHERE account_id = (SELECT id FROM accounts WHERE code = 'platform:points:earned:volume') AND bucket = 0`,
		// As autovacuum would have done to history this old.
		`VACUUM ANALYZE`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("seed: %w\n%s", err, q)
		}
	}
	return nil
}

func report(results []result, pgTPS float64, cpu ticks, profile []byte, stmts [2]string) error {
	var b strings.Builder
	pgVersion, _ := exec.Command("sh", "-c", "$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | tail -1)/postgres --version").Output()
	mem, _ := os.ReadFile("/proc/meminfo")
	memLine := strings.SplitN(string(mem), "\n", 2)[0]
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`go run ./internal/loadgen`) on %s. Every figure below was measured in that run;\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "none is typed in. Run it again to replace this file.\n\n## Machine\n\n- %d cores, %s\n- %s- PostgreSQL started by the run itself, fsync and synchronous_commit on (the defaults), loopback only\n- server: the real `bin/tally serve` (GOMAXPROCS %d); load generator: `internal/loadgen` (GOMAXPROCS %d) over HTTP on loopback, on the same %d cores\n\n",
		runtime.NumCPU(), strings.Join(strings.Fields(memLine), " "), pgVersion, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(&b, "## The bare database\n\n`pgbench -c 8 -j 2 -T %d -M prepared` (TPC-B-like, scale 10) on the same cluster: **%.0f tps**.\n\n",
		int(pgbenchT.Seconds()), pgTPS)
	fmt.Fprintf(&b, "## Scenarios (%s each)\n\n| scenario | throughput | ratio to pgbench | p50 | p99 | server peak RSS | errors |\n|---|---|---|---|---|---|---|\n", *duration)
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.0f %s | %.2fx | %s | %s | %d MB | %d |\n", r.name, r.rate(), r.unit, r.rate()/pgTPS,
			r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.peakRSS/1024, r.errors)
	}
	for _, r := range results {
		if r.hasReads {
			fmt.Fprintf(&b, "\nScenario 5 reads: %d balance reads, p50 **%s**, p99 **%s**; %s.\n", r.readOps,
				r.readP50.Round(10*time.Microsecond), r.readP99.Round(10*time.Microsecond), r.note)
		}
	}
	fmt.Fprintf(&b, "\n## Targets\n\n")
	s1, s2, s3, s5 := results[0], results[1], results[2], results[4]
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	var maxRSS int64
	for _, r := range results {
		maxRSS = max(maxRSS, r.peakRSS)
	}
	fmt.Fprintf(&b, "| target | measured | |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| scenario 1 >= 1.0x pgbench | %.2fx | %s |\n", s1.rate()/pgTPS, check(s1.rate() >= pgTPS))
	fmt.Fprintf(&b, "| scenario 2 >= 0.8x scenario 1 | %.2fx | %s |\n", s2.rate()/s1.rate(), check(s2.rate() >= 0.8*s1.rate()))
	fmt.Fprintf(&b, "| scenario 3 >= 25,000 events/s | %.0f events/s | %s |\n", s3.rate(), check(s3.rate() >= 25000))
	fmt.Fprintf(&b, "| scenario 5 balance read p99 <= 5 ms | %s | %s |\n", s5.readP99.Round(10*time.Microsecond), check(s5.readP99 <= 5*time.Millisecond))
	fmt.Fprintf(&b, "| server RSS <= 150 MB | %d MB | %s |\n", maxRSS/1024, check(maxRSS <= 150*1024))
	total := float64(cpu.postgres + cpu.server + cpu.loadgen)
	if total > 0 {
		fmt.Fprintf(&b, "\n## Where scenario 1's CPU went\n\nCPU time (user + system, from /proc) over scenario 1: PostgreSQL %.0f%%, "+
			"the server %.0f%%, the load generator %.0f%% (%.1f core-seconds in all over %s on %d cores).\n",
			100*float64(cpu.postgres)/total, 100*float64(cpu.server)/total, 100*float64(cpu.loadgen)/total,
			total/100, *duration, runtime.NumCPU())
		fmt.Fprintf(&b, "\nThe server's own CPU profile over scenario 1 (`go tool pprof -top`):\n\n```\n%s```\n", profile)
	}
	fmt.Fprintf(&b, "\n## Where the database's time went\n\nThe statements that took the most time "+
		"(pg_stat_statements: planning and executing, wall time inside PostgreSQL, lock waits included, commits' fsync waits not), over scenario 1:\n\n%s\nover scenario 3:\n\n%s",
		stmts[0], stmts[1])
	if notes, err := os.ReadFile("docs/BENCHMARKS-notes.md"); err == nil {
		b.WriteString("\n")
		b.Write(notes)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	fmt.Print(b.String())
	return os.WriteFile(*out, []byte(b.String()), 0o644)
}
