package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// randomEntry builds one of several realistic entries among customers and
// platform accounts, some of which touch two or three customers at once (in
// random order, to provoke lock-order deadlocks if there were any).
func randomEntry(r *rand.Rand, customers int) ledger.EntryInput {
	c := func() string { return fmt.Sprintf("C%02d", r.IntN(customers)) }
	pts := decimal.NewFromInt(int64(1 + r.IntN(200)))
	cny := decimal.New(int64(1+r.IntN(100000)), -2)
	in := ledger.EntryInput{Actor: "load", Kind: "random"}
	switch r.IntN(6) {
	case 0: // earn from one of the channels
		channel := []string{"volume", "referral", "feedback"}[r.IntN(3)]
		in.Postings = []ledger.PostingInput{
			{Account: "platform:points:earned:" + channel, Amount: pts.Neg()},
			{Account: "customer:" + c() + ":points", Amount: pts},
		}
	case 1: // redeem, which may fail for lack of points
		in.Postings = []ledger.PostingInput{
			{Account: "customer:" + c() + ":points", Amount: pts.Neg()},
			{Account: "platform:points:redeemed", Amount: pts},
		}
	case 2: // deposit with a rebate, two assets' worth of hot accounts
		rebate := cny.Mul(decimal.NewFromFloat(0.04)).Truncate(2)
		cust := c()
		in.Postings = []ledger.PostingInput{
			{Account: "platform:cash", Amount: cny.Neg()},
			{Account: "customer:" + cust + ":prepaid", Amount: cny},
		}
		if rebate.IsPositive() {
			in.Postings = append(in.Postings,
				ledger.PostingInput{Account: "platform:rebate:expense", Amount: rebate.Neg()},
				ledger.PostingInput{Account: "customer:" + cust + ":rebate", Amount: rebate})
		}
	case 3: // charge, which may fail
		in.Postings = []ledger.PostingInput{
			{Account: "customer:" + c() + ":prepaid", Amount: cny.Neg()},
			{Account: "platform:revenue:shipping", Amount: cny},
		}
	case 4: // points moved between two customers
		a, b := c(), c()
		for a == b {
			b = c()
		}
		in.Postings = []ledger.PostingInput{
			{Account: "customer:" + a + ":points", Amount: pts.Neg()},
			{Account: "customer:" + b + ":points", Amount: pts},
		}
	case 5: // three customers and a platform account
		a, b, x := c(), c(), c()
		for b == a {
			b = c()
		}
		for x == a || x == b {
			x = c()
		}
		in.Postings = []ledger.PostingInput{
			{Account: "customer:" + x + ":points", Amount: pts.Neg()},
			{Account: "customer:" + a + ":points", Amount: pts},
			{Account: "customer:" + b + ":points", Amount: pts},
			{Account: "platform:points:earned:adjustment", Amount: pts.Neg()},
		}
	}
	for i, p := range in.Postings {
		if spec, _ := ledger.Chart(p.Account); spec.Asset == ledger.PTS && !spec.AllowNegative && p.Amount.IsPositive() {
			in.Postings[i].Lot = farFuture
		}
	}
	r.Shuffle(len(in.Postings), func(i, j int) { in.Postings[i], in.Postings[j] = in.Postings[j], in.Postings[i] })
	return in
}

// TestConcurrentPostingKeepsTheBooks: 32 goroutines post 5,000 random
// entries among 50 customers and the platform accounts. Afterwards every
// invariant holds, no customer is negative, every balance equals what the
// accepted entries add up to, and no caller saw anything but a legitimate
// refusal (no deadlock, no serialization failure).
func TestConcurrentPostingKeepsTheBooks(t *testing.T) {
	const workers, total, customers = 32, 5000, 50
	l, _ := newLedger(t)
	ctx := context.Background()

	// Seed some points so that redemptions and transfers often succeed.
	for i := range customers {
		mustPost(t, l, earn(fmt.Sprintf("C%02d", i), "500"))
	}

	var (
		next     atomic.Int64
		refused  atomic.Int64
		mu       sync.Mutex
		expected = map[string]decimal.Decimal{}
		wg       sync.WaitGroup
	)
	for i := range customers {
		expected[fmt.Sprintf("customer:C%02d:points", i)] = d("500")
	}
	expected["platform:points:earned:volume"] = d("-500").Mul(decimal.NewFromInt(customers))
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for next.Add(1) <= total {
				in := randomEntry(r, customers)
				_, _, err := l.Post(ctx, in)
				if err != nil {
					if fault.CodeOf(err) != fault.InsufficientFunds {
						t.Errorf("post: %v", err)
					}
					refused.Add(1)
					continue
				}
				mu.Lock()
				for _, p := range in.Postings {
					expected[p.Account] = expected[p.Account].Add(p.Amount)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d entries refused for insufficient funds, %d retries inside the ledger", refused.Load(), l.Stats().Retries.Load())

	mustReconcile(t, l)
	for code, want := range expected {
		got := balance(t, l, code)
		if !got.Equal(want) {
			t.Errorf("balance of %s = %s, want %s from the accepted entries", code, got, want)
		}
		if spec, _ := ledger.Chart(code); !spec.AllowNegative && got.IsNegative() {
			t.Errorf("%s is negative: %s", code, got)
		}
	}
}

// A transaction of many entries adds to one bucket of each hot account,
// whatever the number of entries, in savepoints or in PostMany: two such
// transactions can then never hold buckets in a cycle (each holds one).
func TestOneHotBucketPerTransaction(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		for i := range 20 {
			if _, err := tx.Post(ctx, earn(fmt.Sprint("C", i), "5")); err != nil {
				return err
			}
			if err := tx.Savepoint(ctx, func(tx *ledger.Tx) error {
				_, err := tx.Post(ctx, earn(fmt.Sprint("D", i), "5"))
				return err
			}); err != nil {
				return err
			}
		}
		return tx.PostMany(ctx, []ledger.EntryInput{earn("E1", "5"), earn("E2", "5")}, nil, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	var buckets int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = 'platform:points:earned:volume'`).Scan(&buckets); err != nil {
		t.Fatal(err)
	}
	if buckets != 1 {
		t.Fatalf("one transaction of 42 entries used %d buckets of the hot account, want 1", buckets)
	}
	wantBalance(t, l, "platform:points:earned:volume", "-210")
	mustReconcile(t, l)
}
