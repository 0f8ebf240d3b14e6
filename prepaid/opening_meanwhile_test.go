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
				if !after.Equal(m.Principal) || !after.Equal(d(want[i])) {
					t.Errorf("%s %s answered principal %s, its posting left %s, want %s", m.Kind, m.ID, m.Principal, after, want[i])
				}
			}
			e.Reconcile()
		})
	}
}
