package loyalty_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// BenchmarkExpire1MLots expires 1,000,000 lots of 20,000 customers (50 lots
// each) and reports lots/s and the Go heap: at the start, and at its peak,
// sampled every 20 ms. The job works in chunks of loyalty.ExpiryChunk
// customers, so the peak stays flat however many lots there are.
// Run it alone: go test -run '^$' -bench Expire1M -benchtime 1x ./loyalty
func BenchmarkExpire1MLots(b *testing.B) {
	const customers, perCustomer = 20_000, 50
	const lots = customers * perCustomer
	for range b.N {
		b.StopTimer()
		pool := testdb.Pool(b)
		ctx := context.Background()
		seedLots(b, pool, customers, perCustomer)
		// The run happens on the day the lots expire: a job never acts ahead
		// of now.
		asOf := time.Date(2027, 3, 1, 0, 0, 0, 0, shanghai)
		svc := loyalty.New(pool, ledger.New(pool, ledger.WithClock(func() time.Time { return asOf })))
		runtime.GC()
		var start runtime.MemStats
		runtime.ReadMemStats(&start)
		var peak atomic.Uint64
		peak.Store(start.HeapInuse)
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			var m runtime.MemStats
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
				}
			}
		})
		b.StartTimer()
		began := time.Now()
		rep, err := svc.Expire(ctx, asOf, "bench", nil)
		elapsed := time.Since(began)
		b.StopTimer()
		close(done)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Customers != customers || rep.Points != lots*10 {
			b.Fatalf("expired %+v, want %d customers, %d points", rep, customers, lots*10)
		}
		b.ReportMetric(float64(lots)/elapsed.Seconds(), "lots/s")
		b.ReportMetric(float64(start.HeapInuse)/(1<<20), "start-heap-MB")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(rep.Chunks), "chunks")
	}
}

// seedLots writes, straight in SQL, customers with perCustomer lots of 10
// points each, earned in January 2026 (expiring 2027-02-01 in Shanghai),
// with their entries, postings and balances, as the ledger would have.
func seedLots(b *testing.B, pool *pgxpool.Pool, customers, perCustomer int) {
	b.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO accounts (code, asset, allow_negative)
SELECT 'customer:B' || g || ':points', 'PTS', false FROM generate_series(1, $1::int) g`,
		`INSERT INTO accounts (code, asset, allow_negative) VALUES ('platform:points:earned:volume', 'PTS', true)`,
		`INSERT INTO entries (kind, effective_at, recorded_at, request_hash, actor)
SELECT 'seed', '2026-01-10T10:00:00+08:00', now(), '\x00', 'bench' FROM generate_series(1, $1::int * $2::int)`,
		`CREATE TEMP TABLE seed AS
SELECT e.id AS entry_id, a.id AS account_id
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM entries WHERE kind = 'seed') e
JOIN accounts a ON a.code = 'customer:B' || (e.n % $1::int + 1) || ':points'`,
		`INSERT INTO postings (entry_id, account_id, asset, amount, effective_at)
SELECT s.entry_id, x.account_id, 'PTS', x.amount, '2026-01-10T10:00:00+08:00'
FROM seed s CROSS JOIN LATERAL (VALUES (s.account_id, 10),
    ((SELECT id FROM accounts WHERE code = 'platform:points:earned:volume'), -10)) AS x (account_id, amount)`,
		`INSERT INTO points_lots (account_id, entry_id, amount, remaining, available_at, expires_at)
SELECT account_id, entry_id, 10, 10, '2026-01-10T10:00:00+08:00', '2027-02-01T00:00:00+08:00' FROM seed`,
		`INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT account_id, 0, false, count(*) * 10 FROM seed GROUP BY account_id
UNION ALL
SELECT id, 0, true, -10 * $1::bigint * $2::bigint FROM accounts WHERE code = 'platform:points:earned:volume'`,
		`ANALYZE`,
	} {
		args := []any{customers, perCustomer}
		if !strings.Contains(q, "$2") {
			args = args[:1]
		}
		if !strings.Contains(q, "$1") {
			args = nil
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, q)
		}
	}
}
