package prepaid_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/prepaid"
)

// TestPreviewsOfACustomerQueueInTheServer: while C1's lock is held, six
// previews of deposits for C1 are sent, then a real deposit for C1. The
// previews take their turns in the server (ledger.Preview), so only one
// of them waits in the database's lock queue, where the real deposit then
// waits behind that one alone; without the turns, all six queued there
// before it. Once the lock is free, every call is answered, and only the
// real deposit is in the books. (Which preview or the deposit takes the row
// once it comes free is the database's race; BenchmarkDepositsBesidePreviews
// measures what the turns spare the real deposits.)
func TestPreviewsOfACustomerQueueInTheServer(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "100")
	ctx := e.Ctx
	release := e.Hold(`SELECT FROM customers WHERE id = 'C1' FOR UPDATE`)

	const previews = 6
	previewed := make([]int64, previews)
	var wg sync.WaitGroup
	for i := range previews {
		wg.Go(func() {
			in := prepaid.MoneyInput{ID: fmt.Sprintf("p-%d", i), CustomerID: "C1", Amount: d("10"), Preview: true}
			m, _, err := e.Prepaid.Deposit(ctx, in, "test")
			if err != nil {
				t.Errorf("preview %d: %v", i, err)
			}
			previewed[i] = m.EntryID
		})
	}
	// The first preview waits in the database; the others, had they no
	// turns to wait for, would be there within the second.
	before := e.LockWaitersWithin(time.Second, previews)
	if before != 1 {
		t.Errorf("%d previews of C1 wait in the database's lock queue, want 1", before)
	}
	var real prepaid.MoneyMovement
	wg.Go(func() {
		var err error
		if real, _, err = e.Prepaid.Deposit(ctx, prepaid.MoneyInput{ID: "real", CustomerID: "C1", Amount: d("10")}, "test"); err != nil {
			t.Errorf("the real deposit: %v", err)
		}
	})
	e.LockWaitersWithin(time.Minute, before+1)
	release()
	wg.Wait()
	for i, id := range previewed {
		if id == 0 || id == real.EntryID {
			t.Errorf("preview %d answered entry %d (the real deposit's is %d)", i, id, real.EntryID)
		}
	}
	b := e.Balances(t, "C1")
	if !b.Prepaid.Principal.Equal(d("110")) {
		t.Errorf("principal %s, want 110: the real deposit alone on the first", b.Prepaid.Principal)
	}
	e.Reconcile()
}
