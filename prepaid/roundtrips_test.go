package prepaid_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/prepaid"
)

// TestMovementGroupsCostAFixedNumberOfRoundTrips counts what a group of
// money movements sends PostgreSQL. A group costs the same whatever its size
// and kind: one round trip that begins the transaction, locks the
// customers and their balances, and reads the movements recorded under the
// group's ids and the low-balance thresholds; one that reserves the
// entries' ids (as many as the group writes, so that a refusal leaves no
// gap in them); one that writes the entries, the movements and the
// notices, and commits. Charges and withdrawals, whose debits are checked against the
// balances locked, cost no more than deposits.
func TestMovementGroupsCostAFixedNumberOfRoundTrips(t *testing.T) {
	pool, counter := testdb.CountedPool(t)
	e := &env{servicetest.NewWith(t, servicetest.Config{Pool: pool})}
	for i := range 10 {
		e.Customer(fmt.Sprintf("C%d", i))
		e.MustMoney(prepaid.Deposit, fmt.Sprintf("C%d", i), "100000")
	}
	n := 0
	// cost is the fewest round trips and statements of three groups of
	// count movements of the kind (the first one prepares the statements).
	cost := func(kind string, count int) (trips, sent int) {
		trips, sent = -1, -1
		for round := range 3 {
			kinds, ins := make([]string, count), make([]prepaid.MoneyInput, count)
			for i := range ins {
				n++
				kinds[i] = kind
				ins[i] = prepaid.MoneyInput{ID: fmt.Sprintf("M%d", n), CustomerID: fmt.Sprintf("C%d", i%10), Amount: d("10")}
			}
			tr, st := counter.Measure(func() {
				_, _, errs := e.Prepaid.MoveGroup(e.Ctx, kinds, ins, "test", false)
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
			})
			if round > 0 && (trips < 0 || tr < trips) {
				trips, sent = tr, st
			}
		}
		return trips, sent
	}
	for _, kind := range []string{prepaid.Deposit, prepaid.Charge, prepaid.Withdrawal} {
		trips1, sent1 := cost(kind, 1)
		for _, size := range []int{10, 40} {
			if trips, sent := cost(kind, size); trips != trips1 || sent != sent1 {
				t.Errorf("a group of %d %ss: %d round trips, %d statements; a group of one: %d, %d", size, kind, trips, sent, trips1, sent1)
			}
		}
		if trips1 != 3 {
			t.Errorf("a group of %ss: %d round trips, want 3", kind, trips1)
		}
		t.Logf("a group of %ss: %d round trips, %d statements", kind, trips1, sent1)
	}
	if n := e.Prepaid.Stats().Fallbacks.Load(); n != 0 {
		t.Errorf("%d groups fell back to movement by movement", n)
	}
}
