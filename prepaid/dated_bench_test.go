package prepaid_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/prepaid"
)

// BenchmarkChargesFromAClockBehind: 32 clients, each for a customer of its
// own, alternate a deposit dated by the server (no occurred_at) and a
// charge dated by a partner whose clock is 2 s behind, so that each charge
// is dated before the deposit recorded just before it, and may have to
// take effect when that deposit did. It reports movements answered a
// second and the groups written movement by movement (fallbacks) a
// thousand calls.
func BenchmarkChargesFromAClockBehind(b *testing.B) {
	const clients = 32
	ctx := context.Background()
	_, money := benchMoney(b, clients)
	var n atomic.Int64
	var wg sync.WaitGroup
	before := money.Stats().Fallbacks.Load()
	b.ResetTimer()
	for c := range clients {
		wg.Go(func() {
			customer, deposit := fmt.Sprintf("C%d", c), true
			for k := n.Add(1); k <= int64(b.N); k = n.Add(1) {
				var err error
				if deposit {
					_, _, err = money.Deposit(ctx, prepaid.MoneyInput{ID: fmt.Sprintf("d-%d", k), CustomerID: customer, Amount: d("10")}, "bench")
				} else {
					_, _, err = money.Charge(ctx, prepaid.MoneyInput{ID: fmt.Sprintf("c-%d", k), CustomerID: customer, Amount: d("10"),
						ShipmentID: fmt.Sprintf("S%d", k), OccurredAt: time.Now().Add(-2 * time.Second)}, "bench")
				}
				if err != nil {
					b.Error(err)
					return
				}
				deposit = !deposit
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "movements/s")
	b.ReportMetric(float64(money.Stats().Fallbacks.Load()-before)*1000/float64(b.N), "fallbacks/1000")
	b.ReportMetric(0, "ns/op")
}
