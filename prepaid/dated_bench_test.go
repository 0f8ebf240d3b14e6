package prepaid_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
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
	benchClients(b, func(ctx context.Context, money *prepaid.Service, customer string) func(k int64) error {
		deposit := true
		return func(k int64) error {
			var err error
			if deposit {
				_, _, err = money.Deposit(ctx, prepaid.MoneyInput{ID: fmt.Sprintf("d-%d", k), CustomerID: customer, Amount: d("10")}, "bench")
			} else {
				_, _, err = money.Charge(ctx, prepaid.MoneyInput{ID: fmt.Sprintf("c-%d", k), CustomerID: customer, Amount: d("10"),
					ShipmentID: fmt.Sprintf("S%d", k), OccurredAt: time.Now().Add(-2 * time.Second)}, "bench")
			}
			deposit = !deposit
			return err
		}
	})
}

// BenchmarkBackDatedChargesOverALongHistory: a customer holds 40,000
// deposits of 10.00 dated over the last 50 days (a partner may send many
// small ones), and each operation is one group of 500 charges of theirs
// dated 55 days back, each refused (nothing was there then). Each charge
// reads the customer's balances by date from its date on: one walk of
// those postings, no copy of them. It reports milliseconds a group. The
// money movements of every customer have one group writer: a group that
// takes long holds them all.
func BenchmarkBackDatedChargesOverALongHistory(b *testing.B) {
	ctx := context.Background()
	_, money := benchMoney(b, 1)
	const n, group = 40_000, 500
	now := time.Now()
	for g := 0; g < n; g += group {
		kinds, ins := make([]string, group), make([]prepaid.MoneyInput, group)
		for i := range group {
			at := now.Add(-50*24*time.Hour + time.Duration(g+i)*(50*24*time.Hour/n))
			kinds[i], ins[i] = prepaid.Deposit, prepaid.MoneyInput{ID: fmt.Sprint("seed", g+i), CustomerID: "C0", Amount: d("10.00"), OccurredAt: at}
		}
		if _, _, errs := money.MoveTogether(ctx, kinds, ins, "bench"); errors.Join(errs...) != nil {
			b.Fatal(errors.Join(errs...))
		}
	}
	b.ResetTimer()
	for k := range b.N {
		kinds, ins := make([]string, group), make([]prepaid.MoneyInput, group)
		for i := range group {
			kinds[i], ins[i] = prepaid.Charge, prepaid.MoneyInput{ID: fmt.Sprint("c", k, "-", i), CustomerID: "C0", Amount: d("0.01"),
				ShipmentID: fmt.Sprint("S", k, "-", i), OccurredAt: now.Add(-55 * 24 * time.Hour)}
		}
		_, _, errs := money.MoveTogether(ctx, kinds, ins, "bench")
		for _, err := range errs {
			if fault.CodeOf(err) != fault.InsufficientFunds {
				b.Fatalf("a charge dated before any money: %v", err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/group")
	b.ReportMetric(0, "ns/op")
}
