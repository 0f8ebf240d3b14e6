package ledger_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// BenchmarkHotAccounts posts entries for distinct customers from 32
// goroutines, with and without a shared platform account on the other side,
// and reports entries/s for each. With one balance row per platform account
// every entry queues on that row's lock; spread over buckets, entries for
// different customers go through side by side.
func BenchmarkHotAccounts(b *testing.B) {
	cases := []struct {
		name    string
		buckets int
		shared  bool
	}{
		{"no_shared_account", ledger.DefaultHotBuckets, false},
		{"shared_platform_account/one_row", 1, true},
		{"shared_platform_account/buckets", ledger.DefaultHotBuckets, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			l := ledger.New(testdb.Pool(b), ledger.WithHotBuckets(tc.buckets))
			ctx := context.Background()
			var workers atomic.Int64
			amount := decimal.NewFromInt(1)
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0))) // 32 posting goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine credits its own customer, from its own other
				// customer (funded once up front) or from the shared platform
				// account.
				w := fmt.Sprintf("W%d", workers.Add(1))
				from, to := "customer:"+w+"a:points", "customer:"+w+"b:points"
				if !tc.shared {
					mustPost(b, l, earn(w+"a", "1000000000"))
				}
				for pb.Next() {
					in := ledger.EntryInput{Kind: "bench", Actor: "bench", Postings: []ledger.PostingInput{
						{Account: from, Amount: amount.Neg()},
						{Account: to, Amount: amount, Lot: farFuture},
					}}
					if tc.shared {
						in.Postings[0].Account = "platform:points:earned:volume"
					}
					if _, _, err := l.Post(ctx, in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
