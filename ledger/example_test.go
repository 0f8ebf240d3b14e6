package ledger_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// A ledger is opened on a pool of a migrated database. A balanced entry
// moves money between accounts (created on first use, from the chart of
// accounts), and the accounts' balances answer at once.
func Example() {
	pool, done := testdb.ForExample() // in a service: pgxpool.New(ctx, databaseURL), migrated
	defer done()
	ctx := context.Background()
	l := ledger.New(pool)

	// A deposit of 100 CNY: the platform's cash is debited (negative), the
	// customer's prepaid account credited. Per asset, the postings sum to
	// zero.
	entry, _, err := l.Post(ctx, ledger.EntryInput{Kind: "deposit", Actor: "example", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: decimal.RequireFromString("-100.00")},
		{Account: ledger.CustomerAccount("C1", "prepaid"), Amount: decimal.RequireFromString("100.00")},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(entry.Kind, "with", len(entry.Postings), "postings")
	for _, code := range []string{"customer:C1:prepaid", "platform:cash"} {
		a, err := l.Account(ctx, code)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(a.Code, a.Asset, a.Balance.StringFixed(a.Asset.Scale()))
	}
	// Output:
	// deposit with 2 postings
	// customer:C1:prepaid CNY 100.00
	// platform:cash CNY -100.00
}

// An entry whose postings do not balance, or that would take a customer's
// account below zero, is refused whole: nothing is written.
func ExampleLedger_Post_refused() {
	pool, done := testdb.ForExample()
	defer done()
	ctx := context.Background()
	l := ledger.New(pool)

	_, _, err := l.Post(ctx, ledger.EntryInput{Kind: "deposit", Actor: "example", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: decimal.RequireFromString("-100.00")},
		{Account: "customer:C1:prepaid", Amount: decimal.RequireFromString("99.99")},
	}})
	fmt.Println(fault.CodeOf(err))

	_, _, err = l.Post(ctx, ledger.EntryInput{Kind: "withdrawal", Actor: "example", Postings: []ledger.PostingInput{
		{Account: "customer:C1:prepaid", Amount: decimal.RequireFromString("-1.00")},
		{Account: "platform:cash", Amount: decimal.RequireFromString("1.00")},
	}})
	fmt.Println(fault.CodeOf(err))

	accounts, err := l.Accounts(ctx, ledger.AccountFilter{Prefix: "customer:", Limit: 10})
	fmt.Println(len(accounts), "customer accounts", err)
	// Output:
	// unbalanced
	// insufficient_funds
	// 0 customer accounts <nil>
}

// An idempotency key makes a post safe to retry: the same request again
// records nothing and answers the first entry.
func ExampleLedger_Post_retried() {
	pool, done := testdb.ForExample()
	defer done()
	ctx := context.Background()
	l := ledger.New(pool)

	in := ledger.EntryInput{Kind: "deposit", Actor: "example", IdempotencyKey: "deposit:dep-1", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: decimal.RequireFromString("-100.00")},
		{Account: "customer:C1:prepaid", Amount: decimal.RequireFromString("100.00")},
	}}
	first, replayed, err := l.Post(ctx, in)
	fmt.Println("first:", replayed, err)
	again, replayed, err := l.Post(ctx, in)
	fmt.Println("again:", replayed, err, again.ID == first.ID)

	a, _ := l.Account(ctx, "customer:C1:prepaid")
	fmt.Println(a.Balance.StringFixed(2))
	// Output:
	// first: false <nil>
	// again: true <nil> true
	// 100.00
}

// A balance can be read as of any instant: it counts the entries effective
// at or before it, whenever they were recorded.
func ExampleLedger_BalanceAsOf() {
	pool, done := testdb.ForExample()
	defer done()
	ctx := context.Background()
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))

	for i, amount := range []string{"100.00", "50.00"} {
		_, _, err := l.Post(ctx, ledger.EntryInput{Kind: "deposit", Actor: "example",
			EffectiveAt: now.AddDate(0, 0, i-10), // on the 5th, then the 6th
			Postings: []ledger.PostingInput{
				{Account: "platform:cash", Amount: decimal.RequireFromString(amount).Neg()},
				{Account: "customer:C1:prepaid", Amount: decimal.RequireFromString(amount)},
			}})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, day := range []int{4, 5, 6} {
		at := time.Date(2026, 3, day, 23, 59, 59, 0, time.UTC)
		b, err := l.BalanceAsOf(ctx, "customer:C1:prepaid", at)
		fmt.Println(at.Format("2006-01-02"), b.StringFixed(2), err)
	}
	// Output:
	// 2026-03-04 0.00 <nil>
	// 2026-03-05 100.00 <nil>
	// 2026-03-06 150.00 <nil>
}
