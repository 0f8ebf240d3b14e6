package prepaid_test

import (
	"context"
	"fmt"
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
