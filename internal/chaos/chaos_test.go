// Package chaos checks that nothing acknowledged is ever lost or posted
// twice: partner-like clients post random operations with idempotency keys,
// retrying on timeouts and 5xx exactly as a partner would, while the server
// is killed with SIGKILL and PostgreSQL is crashed (immediate stop) and both
// restarted. Afterwards every acknowledged operation must be in the books
// exactly once, every refused one absent, and every invariant must hold.
//
// `go test ./internal/chaos` runs a short version (part of make test);
// `make chaos` runs the full one (-chaos.full).
package chaos

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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/testdb"
)

var full = flag.Bool("chaos.full", false, "the full schedule: three server kills and a database crash over 90 s")

const adminKey = "chaos-admin-key-0123456789abcdef"

// server is the real tally binary, run and killed as a process.
type server struct {
	t    *testing.T
	bin  string
	env  []string
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get("http://" + s.addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
	}
	s.t.Fatal("server did not become ready")
}

func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// op is one operation a client posts until it gets a definitive answer.
type op struct {
	kind, id, path string
	body           map[string]any
}

type outcome struct {
	op
	acked bool // 2xx; otherwise a 4xx refusal
}

func TestChaos(t *testing.T) {
	duration, kills, crashAt := 12*time.Second, []time.Duration{4 * time.Second}, 8*time.Second
	if *full {
		duration = 100 * time.Second
		kills = []time.Duration{15 * time.Second, 35 * time.Second, 55 * time.Second}
		crashAt = 75 * time.Second
	}
	root, err := testdb.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// A durable cluster of its own (fsync on), crashed and restarted below.
	dir := filepath.Join(root, ".data", "pgchaos")
	os.RemoveAll(dir)
	cluster, err := pgdev.Open(dir, pgdev.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	url, _, err := cluster.Ensure(ctx, "tally")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Stop() })

	bin := filepath.Join(t.TempDir(), "tally")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tally")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	logFile, _ := os.Create(filepath.Join(t.TempDir(), "server.log"))
	srv := &server{t: t, bin: bin, addr: addr, log: logFile,
		env: []string{"DATABASE_URL=" + url, "TALLY_ADDR=" + addr, "TALLY_ADMIN_KEY=" + adminKey, "TALLY_LOG_LEVEL=error"}}
	srv.start()
	defer func() { srv.kill() }()

	client := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + addr
	send := func(method, path string, body any) (int, []byte, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminKey)
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, out, nil
	}
	const customers = 12
	for i := range customers {
		if code, body, err := send("POST", "/v1/customers", map[string]any{"id": fmt.Sprintf("K%02d", i), "name": "k"}); err != nil || code >= 300 {
			t.Fatalf("setup: %d %s %v", code, body, err)
		}
	}
	if code, body, err := send("POST", "/v1/products", map[string]any{"sku": "gift", "name": "Gift", "kind": "standard",
		"points_price": "50"}); err != nil || code >= 300 {
		t.Fatalf("setup: %d %s %v", code, body, err)
	}

	var (
		mu       sync.Mutex
		outcomes []outcome
		seq      atomic.Int64
		retries  atomic.Int64
		wg       sync.WaitGroup
	)
	stop := time.Now().Add(duration)
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for time.Now().Before(stop) {
				o := randomOp(r, seq.Add(1), customers)
				// Retry exactly as a partner would: same request, same key,
				// until a definitive answer.
				for attempt := 0; ; attempt++ {
					code, _, err := send("POST", o.path, o.body)
					if err == nil && code < 500 {
						mu.Lock()
						outcomes = append(outcomes, outcome{o, code < 300})
						mu.Unlock()
						break
					}
					retries.Add(1)
					if attempt > 600 {
						t.Errorf("%s %s: no answer after %d attempts", o.kind, o.id, attempt)
						return
					}
					time.Sleep(time.Duration(50+r.IntN(150)) * time.Millisecond)
				}
			}
		})
	}

	began := time.Now()
	for _, at := range kills {
		time.Sleep(time.Until(began.Add(at)))
		srv.kill()
		time.Sleep(time.Second)
		srv.start()
	}
	time.Sleep(time.Until(began.Add(crashAt)))
	if err := cluster.Crash(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if _, _, err := cluster.Ensure(ctx, "tally"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	acked, lost, duplicated, wrongly := 0, 0, 0, 0
	b := readBooks(t, pool)
	for _, o := range outcomes {
		n := b.count(t, o)
		switch {
		case o.acked && n == 0:
			lost++
			t.Errorf("acknowledged %s %s is missing", o.kind, o.id)
		case n > 1:
			duplicated++
			t.Errorf("%s %s posted %d times", o.kind, o.id, n)
		case !o.acked && n != 0:
			wrongly++
			t.Errorf("refused %s %s was written", o.kind, o.id)
		}
		if o.acked {
			acked++
		}
	}
	code, body, err := send("GET", "/v1/reconciliation", nil)
	var rec struct {
		Pass bool `json:"pass"`
	}
	json.Unmarshal(body, &rec)
	invariants := "ok"
	if err != nil || code != 200 || !rec.Pass {
		invariants = "FAILED"
		t.Errorf("reconciliation: %d %s %v", code, body, err)
	}
	if acked < 50 {
		t.Errorf("only %d operations acknowledged: the run proves little", acked)
	}
	fmt.Printf("ops acknowledged %d, lost %d, duplicated %d, refused-but-written %d, invariants %s (%d retries, %d server kills, 1 database crash, %s)\n",
		acked, lost, duplicated, wrongly, invariants, retries.Load(), len(kills), duration)
}

// randomOp is a partner's operation: a shipment event, a deposit, a charge,
// a withdrawal or a redemption, each with its own idempotency id.
func randomOp(r *rand.Rand, n int64, customers int) op {
	c := fmt.Sprintf("K%02d", r.IntN(customers))
	id := fmt.Sprintf("x%d-%d", n, r.Int64())
	amount := fmt.Sprintf("%d.%02d", 1+r.IntN(3000), r.IntN(100))
	switch r.IntN(5) {
	case 0:
		return op{"deposit", id, "/v1/deposits", map[string]any{"deposit_id": id, "customer_id": c, "amount": amount}}
	case 1:
		return op{"charge", id, "/v1/charges", map[string]any{"charge_id": id, "customer_id": c, "amount": amount, "shipment_id": "S" + id}}
	case 2:
		return op{"withdrawal", id, "/v1/withdrawals", map[string]any{"withdrawal_id": id, "customer_id": c, "amount": amount}}
	case 3:
		return op{"redemption", id, "/v1/redemptions", map[string]any{"redemption_id": id, "customer_id": c, "sku": "gift", "quantity": 1}}
	}
	return op{"event", id, "/v1/events", map[string]any{"event_id": id, "type": "shipment.completed", "customer_id": c,
		"shipment_id": "S" + id, "amount": amount, "occurred_at": time.Now().Add(-time.Second).Format(time.RFC3339Nano)}}
}

// books counts, per operation id, its records and its entries, in a few
// queries (the run leaves tens of thousands of operations).
type books struct{ records, entries map[string]int }

func readBooks(t *testing.T, pool *pgxpool.Pool) books {
	t.Helper()
	b := books{records: map[string]int{}, entries: map[string]int{}}
	load := func(into map[string]int, q string) {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			into[id] += n
		}
	}
	load(b.records, `SELECT 'event:' || event_id, count(*) FROM events GROUP BY 1`)
	load(b.records, `SELECT 'redemption:' || id, count(*) FROM redemptions WHERE entry_id IS NOT NULL GROUP BY 1`)
	load(b.records, `SELECT kind || ':' || id, count(*) FROM money_movements WHERE entry_id IS NOT NULL GROUP BY 1`)
	load(b.entries, `SELECT CASE WHEN kind LIKE 'shipment.%' THEN 'event:' || (metadata->>'event_id')
    ELSE kind || ':' || coalesce(metadata->>'redemption_id', metadata->>'deposit_id', metadata->>'charge_id',
        metadata->>'withdrawal_id') END, count(*)
FROM entries WHERE kind IN ('shipment.completed', 'redemption', 'deposit', 'charge', 'withdrawal') GROUP BY 1`)
	return b
}

// count is how many times the operation is in the books: its record and its
// entry must agree.
func (b books) count(t *testing.T, o outcome) int {
	t.Helper()
	key := o.kind + ":" + o.id
	rows, entries := b.records[key], b.entries[key]
	if rows != entries {
		t.Errorf("%s %s: %d records but %d entries", o.kind, o.id, rows, entries)
	}
	return max(rows, entries)
}
