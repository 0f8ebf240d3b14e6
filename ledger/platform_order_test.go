package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/tally-ledger/tally/internal/fault"
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
	noErrorsNorRetries(t, l, errs)
	want := d("-10.00").Mul(d(fmt.Sprint(workers*rounds + workers)))
	if got := balance(t, l, "platform:cash"); !got.Equal(want) {
		t.Errorf("platform:cash = %s, want %s", got, want)
	}
	if got := balance(t, l, "platform:revenue:shipping"); !got.Equal(d("4.00").Mul(d(fmt.Sprint(workers * rounds)))) {
		t.Errorf("platform:revenue:shipping = %s", got)
	}
}

// Groups of debits (PostMany) over overlapping customers, given in any
// order, lock the customers' rows in one order: no transaction is retried
// for a deadlock, a group that would take an account below zero fails
// whole, and every balance ends at exactly what the groups that committed
// moved.
func TestPostManyDebitsOfOverlappingGroupsNeverDeadlock(t *testing.T) {
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithHotBuckets(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const customers, workers, rounds = 8, 8, 20
	for c := range customers {
		mustPost(t, l, ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-100.00")},
			{Account: fmt.Sprintf("customer:G%02d:prepaid", c), Amount: d("100.00")},
		}})
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		committed = map[string]decimal.Decimal{}
		refused   atomic.Int64
	)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range rounds {
				// Charges of 1.00 to 9.00 to 3 to 8 of the customers, in a random order.
				var ins []ledger.EntryInput
				moved := map[string]decimal.Decimal{}
				for _, c := range r.Perm(customers)[:3+r.IntN(customers-2)] {
					code := fmt.Sprintf("customer:G%02d:prepaid", c)
					amount := decimal.NewFromInt(int64(1 + r.IntN(9)))
					ins = append(ins, ledger.EntryInput{Kind: "charge", Actor: "test", Postings: []ledger.PostingInput{
						{Account: code, Amount: amount.Neg()},
						{Account: "platform:revenue:shipping", Amount: amount},
					}})
					moved[code] = amount.Neg()
				}
				err := l.InTx(ctx, func(tx *ledger.Tx) error {
					if err := tx.PostMany(ctx, ins, nil, nil); err != nil {
						return err
					}
					// Hold the rows while the others want theirs.
					_, err := tx.Exec(ctx, `SELECT pg_sleep(0.002)`)
					return err
				})
				var fe *fault.Error
				switch {
				case errors.As(err, &fe) && fe.Code == fault.InsufficientFunds:
					refused.Add(1)
				case err != nil:
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				default:
					mu.Lock()
					for code, m := range moved {
						committed[code] = committed[code].Add(m)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	noErrorsNorRetries(t, l, errs)
	if refused.Load() == 0 {
		t.Error("no group was refused: the balances never ran low, so the CHECK was not exercised")
	}
	for c := range customers {
		code := fmt.Sprintf("customer:G%02d:prepaid", c)
		want := d("100.00").Add(committed[code])
		if got := balance(t, l, code); !got.Equal(want) || got.IsNegative() {
			t.Errorf("%s = %s, want %s", code, got, want)
		}
	}
}

// noErrorsNorRetries fails for each error the workers sent and for any
// transaction the ledger retried after a deadlock or serialization failure.
func noErrorsNorRetries(t *testing.T, l *ledger.Ledger, errs <-chan error) {
	t.Helper()
	for err := range errs {
		t.Error(err)
	}
	if n := l.Stats().Retries.Load(); n != 0 {
		t.Errorf("%d transactions retried after a deadlock or serialization failure, want none", n)
	}
}
