package prepaid_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// A manual debit (POST /v1/entries takes no customer lock) draws its entry
// id when its entry row is inserted, before it updates the balance rows. If
// it waits on another account's balance row (one sorting before the
// customer's prepaid: here another customer's, held by a write in flight),
// a deposit can be written meanwhile under a later entry id; the debit then
// spends the deposit's money (its posting comes after the deposit's, with a
// balance below it). Once a later deposit refills the balance, the
// deposit's reversal is refused, as written one step at a time: the spent
// question orders postings by their ids (the order they changed the
// balance), not by their entries' (red while it asked both).
func TestADebitWithAnEarlierEntryIDPostedLaterSpendsADeposit(t *testing.T) {
	e := newEnv(t)
	e.Customer("C0")
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "X0", "C0", "1", march(1, 8)) // C0's accounts exist
	e.MoneyAt(t, prepaid.Deposit, "D0", "C1", "50000", march(1, 9))

	// A manual move of 51,000.00 from C1 to C0 waits for C0's principal
	// row (code order) while deposit d is written.
	var dep prepaid.MoneyMovement
	moved := e.manualBehindC0(t, func() { dep = e.MoneyAt(t, prepaid.Deposit, "d", "C1", "1000", march(1, 10)) },
		ledger.PostingInput{Account: "customer:C1:prepaid", Amount: d("-51000")},
		ledger.PostingInput{Account: "customer:C0:prepaid", Amount: d("51000")})
	if moved > dep.EntryID {
		t.Fatalf("the move's entry %d was drawn after the deposit's %d: no race", moved, dep.EntryID)
	}
	e.WantBalanceOf(t, "customer:C1:prepaid", "0") // the move spent d's 1,000.00: without d it is refused
	e.MoneyAt(t, prepaid.Deposit, "D3", "C1", "1000", march(1, 11))

	// The same history written one after the other refuses d's reversal
	// (insufficient_funds); written with the race it must too.
	e.refused(t, prepaid.Deposit, "d", "insufficient_funds", "1000", "2540")
}

// The same history without the race is refused, as RULES.md says.
func TestADepositAManualMoveSpentIsNotReversed(t *testing.T) {
	e := newEnv(t)
	e.Customer("C0")
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "X0", "C0", "1", march(1, 8))
	e.MoneyAt(t, prepaid.Deposit, "D0", "C1", "50000", march(1, 9))
	e.MoneyAt(t, prepaid.Deposit, "d", "C1", "1000", march(1, 10))
	if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "move",
		Postings: []ledger.PostingInput{
			{Account: "customer:C1:prepaid", Amount: d("-51000")},
			{Account: "customer:C0:prepaid", Amount: d("51000")}}}); err != nil {
		t.Fatal(err)
	}
	e.MoneyAt(t, prepaid.Deposit, "D3", "C1", "1000", march(1, 11))
	e.refused(t, prepaid.Deposit, "d", "insufficient_funds", "1000", "2540")
}

// manualBehindC0 posts a manual entry of the postings (one on C0's
// principal, which sorts first) while another transaction holds C0's
// principal row: the entry draws its id, then waits; meanwhile runs, then
// the row is let go and the entry posts. It answers the entry's id.
func (e *env) manualBehindC0(t *testing.T, meanwhile func(), postings ...ledger.PostingInput) int64 {
	t.Helper()
	release := e.Hold(`SELECT 1 FROM balance_buckets WHERE account_id =
  (SELECT id FROM accounts WHERE code = 'customer:C0:prepaid') FOR UPDATE`)
	done := make(chan error, 1)
	var id int64
	go func() {
		en, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "by hand", Postings: postings})
		if err == nil {
			id = en.ID
		}
		done <- err
	}()
	if n := e.LockWaitersWithin(5*time.Second, 1); n < 1 {
		release()
		t.Fatalf("the manual entry never waited (%d waiters)", n)
	}
	meanwhile()
	release()
	if err := <-done; err != nil {
		t.Fatalf("manual entry: %v", err)
	}
	return id
}
