package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/pgdev"
)

const adminKey = "bench-admin-key-0123456789abcdef"

// measuring are the postgresql.conf lines of the run: pg_stat_statements is
// loaded, so that the profiling pass can turn it on, but computes and tracks
// nothing while anything is measured.
const measuring = "shared_preload_libraries = 'pg_stat_statements'\ncompute_query_id = off\n" +
	"pg_stat_statements.track = 'none'\npg_stat_statements.track_planning = off\n"

// bench is what a run measures against: its own cluster, with pgbench's
// tables in one database and the service's in another, and the server.
type bench struct {
	cluster    *pgdev.Cluster
	url        string // the service's database
	pgURL      string // pgbench's database
	pgbinDir   string
	pgVersion  string
	postmaster string // the cluster's postmaster's pid
	pgScale    int
	srv        *server
	client     *client
	receiver   *receiver      // scenario 6's webhook endpoint
	standby    *pgdev.Cluster // scenario 5d's, once made
	limit      limitRun       // scenario 3L's database and key
}

// setUp creates a fresh cluster, initialises pgbench's tables, starts the
// server, creates the API keys and the customers, products, deposits and
// points the scenarios use. Any step that fails fails the run.
func setUp(ctx context.Context) (*bench, error) {
	dir, err := filepath.Abs(".data/pgbench")
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	cluster, err := pgdev.Open(dir, pgdev.Options{Log: logf, Settings: measuring})
	if err != nil {
		return nil, err
	}
	env := &bench{cluster: cluster, pgScale: max(10, *clients)}
	// The server measured is the code in the working tree now.
	logf("building %s", *bin)
	if out, err := exec.Command("go", "build", "-o", *bin, "./cmd/tally").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v: %s", err, out)
	}
	if env.url, _, err = cluster.Ensure(ctx, "tally"); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			env.tearDown()
		}
	}()
	if env.pgURL, _, err = cluster.Ensure(ctx, "pgbench"); err != nil {
		return nil, err
	}
	if env.pgbinDir, err = pgdev.FindBinDir(); err != nil {
		return nil, err
	}
	pidFile, err := os.ReadFile(filepath.Join(cluster.Dir, "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	env.postmaster, _, _ = strings.Cut(string(pidFile), "\n")
	if err := env.query(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SHOW server_version`).Scan(&env.pgVersion)
	}); err != nil {
		return nil, err
	}
	// pgbench's documentation: a scale under the client count mostly
	// measures contention on the branches' rows.
	logf("pgbench: initialising (scale %d)", env.pgScale)
	if out, err := exec.Command(filepath.Join(env.pgbinDir, "pgbench"), "-i", "-q", "-s", strconv.Itoa(env.pgScale), env.pgURL).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgbench -i: %v: %s", err, out)
	}
	if env.srv, err = startServer(env.url); err != nil {
		return nil, err
	}
	partner, err := createKey(env.url, "partner")
	if err != nil {
		return nil, err
	}
	finance, err := createKey(env.url, "finance")
	if err != nil {
		return nil, err
	}
	env.client = newClient("http://"+env.srv.addr, adminKey, partner, finance)
	if env.receiver, err = startReceiver(); err != nil {
		return nil, err
	}
	logf("setup: %d customers; a deposit, points and a redemption for %d of them; a product", *customers, funded)
	if err := setupData(env.client); err != nil {
		return nil, err
	}
	if wantLimit() {
		if err := env.copyForLimit(ctx); err != nil {
			return nil, fmt.Errorf("the limit's database: %w", err)
		}
	}
	ok = true
	return env, nil
}

// copyForLimit makes scenario 3L's database, tally_limit, a copy of the
// service's as setup left it (the same schema, customers, accounts,
// balances and keys), on the same cluster. A copy needs its template
// unused: the server stops for it, and serves again.
func (env *bench) copyForLimit(ctx context.Context) error {
	logf("setup: the limit's database, a copy of the service's")
	env.srv.stop()
	if err := env.waitAlone(ctx); err != nil {
		return err
	}
	if err := env.admin(ctx, `CREATE DATABASE tally_limit TEMPLATE tally`); err != nil {
		return err
	}
	var err error
	if env.srv, err = startServer(env.url); err != nil {
		return err
	}
	env.client.base = "http://" + env.srv.addr
	url, err := env.cluster.URL("tally_limit")
	if err != nil {
		return err
	}
	env.limit, err = openLimit(ctx, url)
	return err
}

// dropLimit drops scenario 3L's database once the runs are over: scenario
// 5d's standby need not copy it.
func (env *bench) dropLimit(ctx context.Context) error {
	env.limit.url = "" // gone: the profiling pass leaves 3L out
	return env.dropDatabase(ctx, "tally_limit")
}

// dropDatabase drops a database of the cluster, if it exists, whoever is
// connected to it.
func (env *bench) dropDatabase(ctx context.Context, name string) error {
	return env.admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

// admin runs a statement on the cluster's postgres database.
func (env *bench) admin(ctx context.Context, sql string) error {
	return env.exec(ctx, "postgres", sql)
}

// exec runs a statement on a connection of its own to the cluster's
// database db.
func (env *bench) exec(ctx context.Context, db, sql string) error {
	url, err := env.cluster.URL(db)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func (env *bench) tearDown() {
	if env.srv != nil {
		env.srv.stop()
	}
	if env.receiver != nil {
		env.receiver.stop()
	}
	if env.standby != nil {
		if err := env.standby.Stop(); err != nil {
			logf("stopping the standby: %v", err)
		}
	}
	if err := env.cluster.Stop(); err != nil {
		logf("stopping PostgreSQL: %v", err)
	}
}

// query runs f on a connection of its own to the service's database.
func (env *bench) query(ctx context.Context, f func(*pgx.Conn) error) error {
	return onConn(ctx, env.url, f)
}

// onConn calls f on a connection of its own to the database at url.
func onConn(ctx context.Context, url string, f func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return f(conn)
}

// checkpoint lets the server's background work catch up (settle),
// vacuums every database of the cluster, then writes every dirty page out,
// so that the next measurement pays neither for the previous one's
// notices and links, nor for its dead rows (pgbench's updates, the
// scenarios' inserts: autovacuum ran in the next scenario's window, on its
// cores), nor for its dirty pages.
func (env *bench) checkpoint(ctx context.Context) error {
	env.settle()
	if err := env.vacuum(ctx); err != nil {
		return err
	}
	return env.query(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `CHECKPOINT`)
		return err
	})
}

// vacuum runs VACUUM (ANALYZE) in every database of the cluster.
func (env *bench) vacuum(ctx context.Context) error {
	url, err := env.cluster.URL("postgres")
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1`)
	if err != nil {
		conn.Close(ctx)
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	conn.Close(ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := env.exec(ctx, name, `VACUUM (ANALYZE)`); err != nil {
			return fmt.Errorf("vacuum %s: %w", name, err)
		}
	}
	return nil
}

// pgbenchResult is one pgbench run.
type pgbenchResult struct {
	tps    float64
	txns   int64 // transactions processed
	failed int64 // failed transactions, as pgbench counts them
}

var (
	pgbenchTPS    = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	pgbenchTxns   = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	pgbenchFailed = regexp.MustCompile(`number of failed transactions: (\d+)`)
)

// pgbenchThreads is pgbench's -j: a thread per core, never more than clients.
func pgbenchThreads() int { return min(runtime.NumCPU(), *clients) }

// pgbench runs TPC-B-like transactions from *clients clients for *pgbenchT.
func (env *bench) pgbench() (pgbenchResult, error) {
	logf("pgbench: TPC-B-like, %d clients, %s", *clients, *pgbenchT)
	out, err := exec.Command(filepath.Join(env.pgbinDir, "pgbench"), "-c", strconv.Itoa(*clients), "-j", strconv.Itoa(pgbenchThreads()),
		"-T", strconv.Itoa(int(pgbenchT.Seconds())), "-M", "prepared", env.pgURL).CombinedOutput()
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench: %v: %s", err, out)
	}
	var r pgbenchResult
	m := pgbenchTPS.FindSubmatch(out)
	t := pgbenchTxns.FindSubmatch(out)
	if m == nil || t == nil {
		return r, fmt.Errorf("no tps or transaction count in pgbench's output:\n%s", out)
	}
	r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	r.txns, _ = strconv.ParseInt(string(t[1]), 10, 64)
	if f := pgbenchFailed.FindSubmatch(out); f != nil {
		r.failed, _ = strconv.ParseInt(string(f[1]), 10, 64)
	}
	logf("  %.0f tps, %d failed transactions", r.tps, r.failed)
	return r, nil
}

type server struct {
	cmd    *exec.Cmd
	addr   string
	pprof  string        // pprof's listener, only for the profiling pass
	exited chan struct{} // closed when the process has exited
	err    error         // why it exited, once exited is closed
	once   sync.Once
}

// startServer runs `tally serve`, which applies the migrations first, and
// waits until it answers ready: a server that exits or is not ready within
// a minute fails the run.
func startServer(url string, env ...string) (*server, error) {
	s := &server{addr: freeAddr(), exited: make(chan struct{})}
	s.cmd = exec.Command(*bin, "serve")
	s.cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "TALLY_ADDR="+s.addr, "TALLY_ADMIN_KEY="+adminKey, "TALLY_LOG_LEVEL=error",
		"TALLY_WEBHOOK_HOSTS=127.0.0.1", "TALLY_WEBHOOK_ALLOW_LOOPBACK=1") // scenario 6's receiver
	s.cmd.Env = append(s.cmd.Env, env...)
	if *profile != "" {
		s.pprof = freeAddr()
		s.cmd.Env = append(s.cmd.Env, "TALLY_PPROF_ADDR="+s.pprof)
	}
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	deadline := time.After(time.Minute)
	for {
		if res, err := http.Get("http://" + s.addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("tally serve exited before it was ready: %v", s.err)
		case <-deadline:
			s.stop()
			return nil, errors.New("tally serve not ready within a minute")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

// stop interrupts the server and waits for it to finish the requests in
// flight and exit.
func (s *server) stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(os.Interrupt)
		<-s.exited
	})
}

// createKey creates an API key of the role with `tally keys create`.
func createKey(url, role string) (string, error) {
	cmd := exec.Command(*bin, "keys", "create", "--role", role, "--name", "bench-"+role)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("tally keys create --role %s: %v: %s", role, err, stderr.String())
	}
	key := strings.TrimSpace(string(out))
	if key == "" || strings.ContainsAny(key, " \n") {
		return "", fmt.Errorf("tally keys create --role %s printed %q, not a key", role, out)
	}
	return key, nil
}

// setupData creates the product the redemptions buy and the customers
// B00000..., and gives the first funded of them a deposit of 100,000.00, a
// shipment of 100,000.00 (100,000 points) and a redemption of the product.
// Every request must succeed.
//
// The redemptions are there so that the books are those of a service in
// use when scenario 4 first runs: the VACUUM (ANALYZE) before each
// measurement, run on an empty redemptions table, records it as empty, and
// the server's pooled connections then cache plans that read the table
// whole for each redemption looked up, which stay while it grows through
// the scenario (its first run measured 3,100 to 3,700 requests/s, the
// others 5,200 to 5,800). A table never analysed empty (as in a service
// deployed and in use: autovacuum leaves an empty table alone) is planned
// as ten pages at least, through its indexes.
func setupData(c *client) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	must := func(req request) {
		req.key = c.admin
		if a := c.send(req); len(a.failed) > 0 {
			mu.Lock()
			failures = append(failures, fmt.Sprintf("%s %s: %s", req.method, req.path, a.failed[0].kind))
			mu.Unlock()
		}
	}
	must(request{method: "POST", path: "/v1/products", body: map[string]any{"sku": "pen", "name": "Pen", "kind": "standard", "points_price": "10"}})
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				id := fmt.Sprintf("B%05d", i)
				must(request{method: "POST", path: "/v1/customers", body: map[string]any{"id": id, "name": "bench"}})
				if i < funded {
					must(request{method: "POST", path: "/v1/deposits", body: map[string]any{"deposit_id": "seed-" + id, "customer_id": id, "amount": "100000.00"}})
					must(request{method: "POST", path: "/v1/events", body: map[string]any{"event_id": "seed-" + id, "type": "shipment.completed",
						"customer_id": id, "shipment_id": "seed-" + id, "amount": "100000.00",
						"occurred_at": time.Now().Add(-time.Minute).Format(time.RFC3339)}})
					must(request{method: "POST", path: "/v1/redemptions", body: map[string]any{"redemption_id": "seed-" + id, "customer_id": id,
						"sku": "pen", "quantity": 1}})
				}
			}
		})
	}
	for i := range *customers {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(failures) > 0 {
		return fmt.Errorf("%d setup requests failed, the first: %s", len(failures), failures[0])
	}
	return nil
}

// seedPostings writes 2*entries postings (balanced entries between the
// funded customers' points and the volume channel) straight in SQL, in one
// transaction: the entry chain's sealer sees the entries with their
// postings or not at all.
func seedPostings(ctx context.Context, url string, entries int) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `BEGIN`); err != nil {
		return err
	}
	volume := `(SELECT id FROM accounts WHERE code = 'platform:points:earned:volume')`
	y, m, _ := time.Now().UTC().AddDate(1, 0, 0).Date()
	seedExpiry := time.Date(y, m, 15, 0, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		q    string
		args []any
		rows int // rows the statement must write; 0: not checked
	}{
		{q: `CREATE TEMP TABLE seed AS SELECT g AS n FROM generate_series(1, $1::int) g`, args: []any{entries}},
		{q: `INSERT INTO entries (kind, effective_at, request_hash, actor) SELECT 'seed', now() - interval '1 day', '\x00', 'bench' FROM seed`, rows: entries},
		{q: `CREATE TEMP TABLE seeded AS SELECT e.id, a.id AS account_id
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM entries WHERE kind = 'seed') e
JOIN accounts a ON a.code = 'customer:B' || lpad((e.n % $1::int)::text, 5, '0') || ':points'`, args: []any{funded}, rows: entries},
		// The points go into one shared lot per customer (credits available
		// at once and expiring together, as the ledger keeps them), which
		// each customer posting names. Its expiry, the 15th of a month at
		// midnight UTC, is none of the service's (a month's start in
		// Shanghai): the customers' earlier points keep their own lots.
		{q: `INSERT INTO points_lots (account_id, entry_id, amount, remaining, available_at, expires_at, shared)
SELECT account_id, min(id), count(*), count(*), now() - interval '1 day', $1::timestamptz, true
FROM seeded GROUP BY account_id`, args: []any{seedExpiry}, rows: funded},
		// A customer's postings carry the balance after them, as the ledger's
		// do: what the account held, plus the seeded points so far.
		{q: `INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at, lot_id)
SELECT s.id, x.account_id, 'PTS', x.amount, x.after, now() - interval '1 day', x.lot_id
FROM (SELECT s.*, b.balance + row_number() OVER (PARTITION BY s.account_id ORDER BY s.id) AS after, l.id AS lot_id
      FROM seeded s JOIN balance_buckets b ON b.account_id = s.account_id AND b.bucket = 0
      JOIN points_lots l ON l.account_id = s.account_id AND l.shared AND l.expires_at = $1) s
CROSS JOIN LATERAL (VALUES (s.account_id, 1, s.after, s.lot_id), (` + volume + `, -1, NULL, NULL)) x (account_id, amount, after, lot_id)`,
			args: []any{seedExpiry}, rows: 2 * entries},
		{q: `UPDATE balance_buckets b SET balance = b.balance + s.n FROM (SELECT account_id, count(*) AS n FROM seeded GROUP BY 1) s
WHERE b.account_id = s.account_id AND b.bucket = 0`, rows: funded},
		{q: `UPDATE balance_buckets SET balance = balance - $1::int WHERE account_id = ` + volume + ` AND bucket = 0`, args: []any{entries}, rows: 1},
		{q: `COMMIT`},
		// As autovacuum would have done to history this old.
		{q: `VACUUM ANALYZE`},
	} {
		tag, err := conn.Exec(ctx, step.q, step.args...)
		if err != nil {
			conn.Exec(ctx, `ROLLBACK`)
			return fmt.Errorf("seed: %w\n%s", err, step.q)
		}
		if step.rows > 0 && tag.RowsAffected() != int64(step.rows) {
			return fmt.Errorf("seed: %d rows written, want %d\n%s", tag.RowsAffected(), step.rows, step.q)
		}
	}
	return nil
}

// restart serves again, on the same database, with env added to the
// server's environment.
func (env *bench) restart(extra ...string) error {
	env.srv.stop()
	var err error
	if env.srv, err = startServer(env.url, extra...); err != nil {
		return err
	}
	env.client.base = "http://" + env.srv.addr
	return nil
}

// useStandby makes a streaming standby of the cluster (pgbench's database
// is dropped first: its runs are over) and serves again with
// TALLY_READ_DATABASE_URL on it, for scenario 5d.
func (env *bench) useStandby(ctx context.Context) error {
	if err := env.dropDatabase(ctx, "pgbench"); err != nil {
		return err
	}
	dir, err := filepath.Abs(".data/pgbench-standby")
	if err != nil {
		return err
	}
	if env.standby, err = env.cluster.Standby(ctx, dir); err != nil {
		return err
	}
	readURL, err := env.standby.URL("tally")
	if err != nil {
		return err
	}
	env.srv.stop()
	if env.srv, err = startServer(env.url, "TALLY_READ_DATABASE_URL="+readURL); err != nil {
		return err
	}
	env.client.base = "http://" + env.srv.addr
	return nil
}

// settle waits, for a minute at most, until the server's webhook
// dispatcher has reached the end of the notification feed
// (tally_webhook_feed_backlog 0) and its sealer has linked every entry
// (tally_chain_unsealed_entries 0): a scenario that began behind them
// would send the notices, or seal the entries, of the one before.
func (env *bench) settle() {
	if env.srv == nil {
		return
	}
	// The server reads these gauges at most once a second and answers the
	// last reading meanwhile: one taken before the scenario ended must not
	// pass for the end.
	time.Sleep(time.Second + 100*time.Millisecond)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		backlog, ok1 := serverGauge(env.srv, "tally_webhook_feed_backlog")
		unsealed, ok2 := serverGauge(env.srv, "tally_chain_unsealed_entries")
		if ok1 && ok2 && backlog == 0 && unsealed == 0 {
			return
		}
	}
	logf("the server's webhook dispatcher or sealer is still behind after a minute; measuring anyway")
}
