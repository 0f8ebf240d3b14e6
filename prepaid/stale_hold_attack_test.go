package prepaid_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/rules"
)

// TestAGroupPricesAgainstTheBalancesItWritesOver: a manual entry (which
// takes no customer's lock) credits X's principal while a group that
// withdraws from X waits, after reading X's balances, on another customer's
// account being opened. The withdrawal must be priced against the
// balances it is written over, as the ledger orders them: its clawback is
// rules.Clawback of the principal and rebate its postings leave plus what
// they took, and it answers the principal its posting leaves.
func TestAGroupPricesAgainstTheBalancesItWritesOver(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.Customer("X")
	e.Customer("Z")
	if m := e.MustMoney(prepaid.Deposit, "X", "3000"); !m.RebateBalance.IsPositive() {
		t.Fatalf("the deposit granted no rebate: %+v", m)
	}
	// Z's account opened by a transaction that has not ended: the group,
	// opening it too, waits for it.
	blocker, err := e.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, `INSERT INTO accounts (code, asset, allow_negative, created_at)
VALUES ('customer:Z:prepaid', 'CNY', false, now())`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		m   []prepaid.MoneyMovement
		err []error
	}
	group := make(chan result, 1)
	go func() {
		m, _, errs := e.Prepaid.MoveGroup(ctx, []string{prepaid.Withdrawal, prepaid.Deposit}, []prepaid.MoneyInput{
			{ID: "w1", CustomerID: "X", Amount: d("3000")},
			{ID: "d1", CustomerID: "Z", Amount: d("10")},
		}, "test", false)
		group <- result{m, errs}
	}()
	waiting := func(n int) bool { return e.LockWaiters() >= n } // n sessions wait for a lock
	e.LockWaitersWithin(time.Minute, 1)
	manual := make(chan error, 1)
	go func() {
		_, _, err := e.Ledger.Post(ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "goodwill", Postings: []ledger.PostingInput{
			{Account: "customer:X:prepaid", Amount: d("1000")},
			{Account: "platform:cash", Amount: d("-1000")},
		}})
		manual <- err
	}()
	// The manual entry is in, or waits for the group.
	for done := false; !done; {
		select {
		case err := <-manual:
			if err != nil {
				t.Fatal(err)
			}
			manual <- nil
			done = true
		default:
			done = waiting(2)
			time.Sleep(time.Millisecond)
		}
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-group
	if err := <-manual; err != nil {
		t.Fatal(err)
	}
	for i, err := range r.err {
		if err != nil {
			t.Fatalf("movement %d: %v", i, err)
		}
	}
	w := r.m[0]
	// What the withdrawal's postings left, as the ledger recorded them.
	var principalAfter, rebateAfter decimal.Decimal
	e.Scan(t, `SELECT
    (SELECT p.balance_after FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.entry_id = `+itoa(w.EntryID)+` AND a.code = 'customer:X:prepaid'),
    coalesce((SELECT p.balance_after FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.entry_id = `+itoa(w.EntryID)+` AND a.code = 'customer:X:rebate'), -1)`,
		&principalAfter, &rebateAfter)
	if !w.Principal.Equal(principalAfter) {
		t.Errorf("the withdrawal answered principal %s, its posting left %s", w.Principal, principalAfter)
	}
	if w.Clawback == nil {
		t.Fatalf("the withdrawal recorded no clawback: %+v", w)
	}
	principalBefore := principalAfter.Add(w.Amount.Decimal)
	rebateBefore := rebateAfter.Add(w.Clawback.Decimal)
	if want := rules.Clawback(rebateBefore, principalBefore, w.Amount.Decimal); !w.Clawback.Equal(want) {
		t.Errorf("clawback %s, want %s: rebate %s and principal %s before it, as the ledger orders it",
			w.Clawback, want, rebateBefore, principalBefore)
	}
}

func itoa(n int64) string { return decimal.NewFromInt(n).String() }
