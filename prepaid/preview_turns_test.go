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
	waiting := func() (n int) {
		e.Scan(t, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`, &n)
		return n
	}
	holder, err := e.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT FROM customers WHERE id = 'C1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

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
	for deadline := time.Now().Add(time.Second); waiting() < previews && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	before := waiting()
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
	for waiting() < before+1 {
		time.Sleep(time.Millisecond)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
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
