package prepaid_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// BenchmarkDepositsBesidePreviews: eight clients make real deposits, one
// of them for customer T and the others for customers of their own, while
// 0 or 16 more clients send previews (?dry_run=true) of deposits for T as
// fast as they are answered ("-spread": each for a customer of its own).
// It reports the real deposits' median and p99 (ms): for T, for the
// others, and the previews answered a second. A preview takes T's lock as
// the real call would; the previews' turns (ledger.Preview) keep them from
// queuing in the database ahead of the real deposits.
func BenchmarkDepositsBesidePreviews(b *testing.B) {
	for _, flood := range []struct {
		previewers int
		spread     bool // each previewer for a customer of its own, not T
	}{{0, false}, {16, false}, {16, true}} {
		previewers := flood.previewers
		name := fmt.Sprintf("previewers=%d", previewers)
		if flood.spread {
			name += "-spread"
		}
		b.Run(name, func(b *testing.B) {
			const clients = 8
			ctx := context.Background()
			customers, money := benchMoney(b, clients)
			customer := func(client int) string { // client 0 deposits for T
				if client == 0 {
					return "T"
				}
				return fmt.Sprintf("C%d", client)
			}
			if _, _, err := customers.CreateCustomer(ctx, loyalty.Customer{ID: "T", Name: "bench"}); err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var previews atomic.Int64
			var floods sync.WaitGroup
			for p := range previewers {
				target := "T"
				if flood.spread {
					target = fmt.Sprintf("P%d", p)
					if _, _, err := customers.CreateCustomer(ctx, loyalty.Customer{ID: target, Name: "bench"}); err != nil {
						b.Fatal(err)
					}
				}
				floods.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						in := prepaid.MoneyInput{ID: "p", CustomerID: target, Amount: d("100"), Preview: true}
						if _, _, err := money.Deposit(ctx, in, "bench"); err != nil {
							b.Error(err)
							return
						}
						previews.Add(1)
					}
				})
			}
			took := make([][]time.Duration, clients)
			var n atomic.Int64
			var real sync.WaitGroup
			b.ResetTimer()
			for c := range clients {
				real.Go(func() {
					for k := n.Add(1); k <= int64(b.N); k = n.Add(1) {
						start := time.Now()
						in := prepaid.MoneyInput{ID: fmt.Sprintf("d-%d", k), CustomerID: customer(c), Amount: d("100")}
						if _, _, err := money.Deposit(ctx, in, "bench"); err != nil {
							b.Error(err)
							return
						}
						took[c] = append(took[c], time.Since(start))
					}
				})
			}
			real.Wait()
			b.StopTimer()
			close(stop)
			floods.Wait()
			others := slices.Concat(took[1:]...)
			for _, s := range []struct {
				name string
				d    []time.Duration
			}{{"T", took[0]}, {"others", others}} {
				slices.Sort(s.d)
				if len(s.d) == 0 {
					continue
				}
				at := func(q float64) float64 { return float64(s.d[int(q*float64(len(s.d)-1))].Microseconds()) / 1000 }
				b.ReportMetric(at(0.5), s.name+"-p50-ms")
				b.ReportMetric(at(0.99), s.name+"-p99-ms")
			}
			b.ReportMetric(float64(previews.Load())/b.Elapsed().Seconds(), "previews/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchMoney is prepaid money (and the loyalty service its customers are
// made by) on a fresh database with customers C0 to C(n-1).
func benchMoney(b *testing.B, n int) (*loyalty.Service, *prepaid.Service) {
	b.Helper()
	pool := testdb.Pool(b)
	l := ledger.New(pool)
	customers := loyalty.New(pool, l)
	for i := range n {
		if _, _, err := customers.CreateCustomer(context.Background(), loyalty.Customer{ID: fmt.Sprintf("C%d", i), Name: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	return customers, prepaid.New(l, customers)
}
