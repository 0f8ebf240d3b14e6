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
			benchClients(b, func(ctx context.Context, money *prepaid.Service, customer string) func(k int64) error {
				last := ""
				return func(k int64) error {
					id := fmt.Sprintf("d-%d", k)
					if every > 0 && k%int64(every) == 0 && last != "" {
						id = last
					}
					_, _, err := money.Deposit(ctx, prepaid.MoneyInput{ID: id, CustomerID: customer, Amount: d("100")}, "bench")
					last = id
					return err
				}
			})
		})
	}
}

// benchClients runs b.N calls over 32 clients, each for a customer of its
// own (C0 to C31): client makes a client's call k, with what it keeps
// between its calls. It reports movements answered a second and the
// groups written movement by movement (fallbacks) a thousand calls.
func benchClients(b *testing.B, client func(ctx context.Context, money *prepaid.Service, customer string) func(k int64) error) {
	const clients = 32
	ctx := context.Background()
	_, money := benchMoney(b, clients)
	var n atomic.Int64
	var wg sync.WaitGroup
	before := money.Stats().Fallbacks.Load()
	b.ResetTimer()
	for c := range clients {
		call := client(ctx, money, fmt.Sprintf("C%d", c))
		wg.Go(func() {
			for k := n.Add(1); k <= int64(b.N); k = n.Add(1) {
				if err := call(k); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "movements/s")
	b.ReportMetric(float64(money.Stats().Fallbacks.Load()-before)*1000/float64(b.N), "fallbacks/1000")
	b.ReportMetric(0, "ns/op")
}
