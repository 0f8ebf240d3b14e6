package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// Transactions of several entries that touch the platform accounts in
// opposite orders (a deposit then a charge, a charge then a deposit), all
// on one bucket per hot account, never wait for each other in a cycle: no
// transaction is retried for a deadlock, and the platform accounts end with
// exactly what the entries moved.
func TestEntriesOfOneTransactionNeverDeadlockOnPlatformAccounts(t *testing.T) {
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithHotBuckets(1))
	// Before transactions took the platform accounts in one order, this
	// deadlocked over and over: bound it, so that it fails, not hangs.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deposit := func(cust string) ledger.EntryInput {
		return ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-10.00")},
			{Account: "customer:" + cust + ":prepaid", Amount: d("10.00")},
		}}
	}
	charge := func(cust string) ledger.EntryInput {
		return ledger.EntryInput{Kind: "charge", Actor: "test", Postings: []ledger.PostingInput{
			{Account: "customer:" + cust + ":prepaid", Amount: d("-4.00")},
			{Account: "platform:revenue:shipping", Amount: d("4.00")},
		}}
	}
	const workers, rounds = 16, 10
	for w := range workers { // so that a charge may come first
		mustPost(t, l, deposit(fmt.Sprintf("D%02d", w)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		cust := fmt.Sprintf("D%02d", w)
		wg.Go(func() {
			for range rounds {
				err := l.InTx(ctx, func(tx *ledger.Tx) error {
					first, second := deposit(cust), charge(cust)
					if w%2 == 1 { // the other order
						first, second = charge(cust), deposit(cust)
					}
					if _, err := tx.Post(ctx, first); err != nil {
						return err
					}
					// Hold what the first entry took while the others take theirs.
					if _, err := tx.Exec(ctx, `SELECT pg_sleep(0.005)`); err != nil {
						return err
					}
					_, err := tx.Post(ctx, second)
					return err
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := l.Stats().Retries.Load(); n != 0 {
		t.Errorf("%d transactions retried after a deadlock or serialization failure, want none", n)
	}
	want := d("-10.00").Mul(d(fmt.Sprint(workers*rounds + workers)))
	if got := balance(t, l, "platform:cash"); !got.Equal(want) {
		t.Errorf("platform:cash = %s, want %s", got, want)
	}
	if got := balance(t, l, "platform:revenue:shipping"); !got.Equal(d("4.00").Mul(d(fmt.Sprint(workers * rounds)))) {
		t.Errorf("platform:revenue:shipping = %s", got)
	}
}
