package ledger_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// BenchmarkChainWritePathCost posts entries from 32 goroutines on a shared
// platform account (as BenchmarkHotAccounts does) and reports entries/s:
// without what the chain and closed periods add to the write path (the
// entries' transaction id and its index, the closed-period check per
// statement: removed from the test database), with them, and with them
// while a sealer links entries every second, as serve does.
func BenchmarkChainWritePathCost(b *testing.B) {
	for _, tc := range []struct {
		name    string
		without bool
		sealer  bool
	}{{"without", true, false}, {"with", false, false}, {"with_sealer", false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			pool := testdb.Pool(b)
			ctx := context.Background()
			if tc.without {
				if _, err := pool.Exec(ctx, `DROP TRIGGER entries_period_open ON entries; DROP INDEX entries_xid;
ALTER TABLE entries ALTER COLUMN xid SET DEFAULT '0'`); err != nil {
					b.Fatal(err)
				}
			}
			l := ledger.New(pool)
			if tc.sealer {
				sealCtx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); l.RunSealer(sealCtx, time.Second, func(err error) { b.Error(err) }) }()
				defer func() { stop(); <-done }()
			}
			var workers atomic.Int64
			amount := decimal.NewFromInt(1)
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				to := fmt.Sprintf("customer:W%d:points", workers.Add(1))
				for pb.Next() {
					if _, _, err := l.Post(ctx, ledger.EntryInput{Kind: "bench", Actor: "bench", Postings: []ledger.PostingInput{
						{Account: "platform:points:earned:volume", Amount: amount.Neg()},
						{Account: to, Amount: amount, Lot: farFuture},
					}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkSealBlock seals blocks of SealBlock shipment-like entries (two
// postings each, a customer's and the platform's) and reports entries
// sealed a second: what the sealer costs beside the event writers.
func BenchmarkSealBlock(b *testing.B) {
	pool := testdb.Pool(b)
	ctx := context.Background()
	l := ledger.New(pool)
	in := make([]ledger.EntryInput, ledger.SealBlock)
	for i := range in {
		in[i] = ledger.EntryInput{Kind: "bench", Actor: "bench", Metadata: []byte(`{"shipment_id": "S1", "amount": "120.00"}`),
			Postings: []ledger.PostingInput{
				{Account: "platform:points:earned:volume", Amount: decimal.NewFromInt(-120)},
				{Account: fmt.Sprintf("customer:B%05d:points", i), Amount: decimal.NewFromInt(120), Lot: farFuture},
			}}
	}
	sealed := 0
	var took time.Duration
	for range b.N {
		if err := l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, in, nil, nil) }); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		n := sealCommitted(b, l)
		took += time.Since(start)
		sealed += n
	}
	b.ReportMetric(float64(sealed)/took.Seconds(), "entries/s")
}
