package prepaid_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// TestAnAccountOpenedMeanwhileIsWaitedFor: N has no prepaid account when
// its movements lock their balances; a manual entry that opens it with 1000
// in has not committed yet, and commits while they wait. Written together
// and one by one, each movement is priced from what that entry put in: a
// deposit answers the balance its posting left, and a charge N can afford
// once the entry committed is taken, not refused as insufficient funds.
// (Found by review: the lock found no account, so locked nothing and read
// zero, and the posting then waited for the entry and landed on its 1000.)
func TestAnAccountOpenedMeanwhileIsWaitedFor(t *testing.T) {
	for _, each := range []bool{false, true} {
		t.Run(fmt.Sprint("each=", each), func(t *testing.T) {
			e := newEnv(t)
			e.Customer("N")
			opened, goOn, writer := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				writer <- e.Ledger.InTx(e.Ctx, func(tx *ledger.Tx) error {
					if _, err := tx.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "opening", Postings: []ledger.PostingInput{
						{Account: "customer:N:prepaid", Amount: d("1000")},
						{Account: "platform:cash", Amount: d("-1000")},
					}}); err != nil {
						return err
					}
					close(opened)
					<-goOn
					return nil
				})
			}()
			<-opened
			kinds := []string{prepaid.Charge, prepaid.Deposit, prepaid.Charge}
			ins := []prepaid.MoneyInput{{ID: "n-c1", CustomerID: "N", Amount: d("600")},
				{ID: "n-d", CustomerID: "N", Amount: d("10")}, {ID: "n-c2", CustomerID: "N", Amount: d("5")}}
			type result struct {
				ms   []prepaid.MoneyMovement
				errs []error
			}
			done := make(chan result, 1)
			go func() {
				ms, _, errs := e.Prepaid.MoveGroup(e.Ctx, kinds, ins, "test", each)
				done <- result{ms, errs}
			}()
			e.LockWaitersWithin(10*time.Second, 1)
			close(goOn)
			if err := <-writer; err != nil {
				t.Fatal(err)
			}
			r := <-done
			want := []string{"400", "410", "405"}
			for i, m := range r.ms {
				if r.errs[i] != nil {
					t.Fatalf("%s %s: %v", kinds[i], ins[i].ID, r.errs[i])
				}
				var after decimal.Decimal
				if err := e.Pool.QueryRow(e.Ctx, `SELECT p.balance_after FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE p.entry_id = $1 AND a.code = 'customer:N:prepaid'`, m.EntryID).Scan(&after); err != nil {
					t.Fatal(err)
				}
				if !after.Equal(m.Principal.Decimal) || !after.Equal(d(want[i])) {
					t.Errorf("%s %s answered principal %s, its posting left %s, want %s", m.Kind, m.ID, m.Principal, after, want[i])
				}
			}
			e.Reconcile()
		})
	}
}

// TestOneByOneOpensEveryAccountBeforeLockingAny: written one by one
// (moveEach), each movement locks its customer's balances in turn. A
// manual entry has opened B's prepaid account (not committed yet) and goes
// on to post to A's. Had the group locked A's balance for A's movement
// and then waited for that opening for B's, the two would wait for each
// other: a deadlock PostgreSQL breaks after a second by aborting one, and
// the aborted transaction runs again. The group opens every account of its
// customers before it locks any balance, so it waits for the entry, which
// commits, and nothing runs twice. (Found by review: the group was retried.)
func TestOneByOneOpensEveryAccountBeforeLockingAny(t *testing.T) {
	e := newEnv(t)
	e.Customer("A")
	e.Customer("B")
	e.MustMoney(prepaid.Deposit, "A", "300")
	// Each movement is priced after the entry: A's 300 less its 20, and
	// the 50 it put in B's account.
	oneByOneBesideAManualEntry(t, e, "customer:B:prepaid", "50", "customer:A:prepaid", "-20",
		[]string{prepaid.Deposit, prepaid.Charge},
		[]prepaid.MoneyInput{{ID: "a-d", CustomerID: "A", Amount: d("100")}, {ID: "b-c", CustomerID: "B", Amount: d("30")}},
		"380", "20")
}

// oneByOneBesideAManualEntry writes a group one by one (moveEach) while a
// manual entry moves first account by amount, then then by thenAmount,
// the group starting between the two, and checks that nothing ran twice
// (no deadlock) and that each movement answered the principal wanted.
func oneByOneBesideAManualEntry(t *testing.T, e *env, first, amount, then, thenAmount string,
	kinds []string, ins []prepaid.MoneyInput, want ...string) {
	t.Helper()
	manual := func(account, amount string) func(tx *ledger.Tx) error {
		return func(tx *ledger.Tx) error {
			_, err := tx.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "adjustment", Postings: []ledger.PostingInput{
				{Account: account, Amount: d(amount)},
				{Account: "platform:cash", Amount: d(amount).Neg()},
			}})
			return err
		}
	}
	var (
		ms   []prepaid.MoneyMovement
		errs []error
	)
	retries := e.Deadlock(t, manual(first, amount), manual(then, thenAmount),
		func() { ms, _, errs = e.Prepaid.MoveGroup(e.Ctx, kinds, ins, "test", true) })
	if retries != 0 {
		t.Errorf("%d transactions ran again, want none", retries)
	}
	for i, w := range want {
		if errs[i] != nil || !ms[i].Principal.Equal(d(w)) {
			t.Errorf("%s %s: principal %s, %v; want %s", kinds[i], ins[i].ID, ms[i].Principal, errs[i], w)
		}
	}
	e.Reconcile()
}

// TestOneByOneLocksBalancesInCodeOrder: a group [B, A] written one by one.
// A manual entry holds A's balance and goes on to post to B's; it locks
// them in code order, A before B. Had the group locked B's balance for its
// first movement and then waited for A's for its second, the two would
// wait for each other (PostgreSQL breaks that after a second and one runs
// again). The group locks every balance it needs at once, in code order, as
// the entry does: it waits for A's holding nothing, and nothing runs twice.
// (Found by review of the fix above.)
func TestOneByOneLocksBalancesInCodeOrder(t *testing.T) {
	e := newEnv(t)
	e.Customer("A")
	e.Customer("B")
	e.MustMoney(prepaid.Deposit, "A", "300")
	e.MustMoney(prepaid.Deposit, "B", "300")
	// Each movement is priced after the entry: B's 300 and 50 less the
	// charge of 30; A's 300 less 20 and the deposit of 100.
	oneByOneBesideAManualEntry(t, e, "customer:A:prepaid", "-20", "customer:B:prepaid", "50",
		[]string{prepaid.Charge, prepaid.Deposit},
		[]prepaid.MoneyInput{{ID: "b-c", CustomerID: "B", Amount: d("30")}, {ID: "a-d", CustomerID: "A", Amount: d("100")}},
		"320", "380")
}
