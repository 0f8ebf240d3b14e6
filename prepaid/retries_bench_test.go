package prepaid_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tally-ledger/tally/prepaid"
)

// BenchmarkDepositsWithRetries: 32 clients make deposits for customers of
// their own; with retries=N%, one call in 100/N sends the client's
// previous deposit again, as a partner does whose answer was lost. It
// reports movements answered a second (new and replayed) and the groups
// written movement by movement (fallbacks) a thousand calls.
func BenchmarkDepositsWithRetries(b *testing.B) {
	for _, every := range []int{0, 20} {
		name := "retries=0%"
		if every > 0 {
			name = fmt.Sprintf("retries=%d%%", 100/every)
		}
		b.Run(name, func(b *testing.B) {
			const clients = 32
			ctx := context.Background()
			_, money := benchMoney(b, clients)
			var n atomic.Int64
			var wg sync.WaitGroup
			before := money.Stats().Fallbacks.Load()
			b.ResetTimer()
			for c := range clients {
				wg.Go(func() {
					last := ""
					for k := n.Add(1); k <= int64(b.N); k = n.Add(1) {
						id := fmt.Sprintf("d-%d", k)
						if every > 0 && k%int64(every) == 0 && last != "" {
							id = last
						}
						in := prepaid.MoneyInput{ID: id, CustomerID: fmt.Sprintf("C%d", c), Amount: d("100")}
						if _, _, err := money.Deposit(ctx, in, "bench"); err != nil {
							b.Error(err)
							return
						}
						last = id
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "movements/s")
			b.ReportMetric(float64(money.Stats().Fallbacks.Load()-before)*1000/float64(b.N), "fallbacks/1000")
			b.ReportMetric(0, "ns/op")
		})
	}
}
