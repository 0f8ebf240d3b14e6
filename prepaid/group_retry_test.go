package prepaid_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// mixedGroup is a group that exercises every branch of write: new
// movements of two customers (each twice), a refusal, a replay of a
// recorded movement, a conflict with one, and a customer without accounts.
func mixedGroup() ([]string, []prepaid.MoneyInput) {
	kinds := []string{prepaid.Deposit, prepaid.Charge, prepaid.Charge, prepaid.Deposit, prepaid.Deposit, prepaid.Deposit,
		prepaid.Withdrawal, prepaid.Charge, prepaid.Deposit}
	ins := []prepaid.MoneyInput{
		{ID: "g-d1", CustomerID: "A", Amount: d("100")},
		{ID: "g-c1", CustomerID: "A", Amount: d("50")},
		{ID: "g-c2", CustomerID: "B", Amount: d("100000")},                                            // refused: too little money
		{ID: "old", CustomerID: "A", Amount: d("300"), OccurredAt: servicetest.Start.Add(-time.Hour)}, // a replay
		{ID: "old", CustomerID: "A", Amount: d("301")},                                                // a conflict
		{ID: "g-d2", CustomerID: "B", Amount: d("10")},
		{ID: "g-w1", CustomerID: "A", Amount: d("20")},
		{ID: "g-c3", CustomerID: "N", Amount: d("5")}, // N has no account yet: refused
		{ID: "g-d3", CustomerID: "N", Amount: d("40")},
	}
	return kinds, ins
}

// checkAnswers checks every answer of mixedGroup against the rows: a
// movement answered recorded is recorded under its entry, and its balances
// after it are what its postings left.
func (e *env) checkAnswers(t *testing.T, kinds []string, ins []prepaid.MoneyInput, ms []prepaid.MoneyMovement, replayed []bool, errs []error) {
	t.Helper()
	want := []fault.Code{"", "", fault.InsufficientFunds, "", fault.IdempotencyConflict, "", "", fault.InsufficientFunds, ""}
	for i := range ins {
		if got := fault.CodeOf(errs[i]); got != want[i] {
			t.Errorf("%s %s: %v (code %q), want %q", kinds[i], ins[i].ID, errs[i], got, want[i])
			continue
		}
		if errs[i] != nil {
			continue
		}
		if replayed[i] != (ins[i].ID == "old") {
			t.Errorf("%s %s: replayed %v", kinds[i], ins[i].ID, replayed[i])
		}
		var entry int64
		if err := e.Pool.QueryRow(e.Ctx, `SELECT coalesce((SELECT entry_id FROM money_movements WHERE kind = $1 AND id = $2), -1)`,
			kinds[i], ins[i].ID).Scan(&entry); err != nil {
			t.Fatal(err)
		}
		if entry != ms[i].EntryID {
			t.Errorf("%s %s answered entry %d, recorded %d", kinds[i], ins[i].ID, ms[i].EntryID, entry)
		}
		if replayed[i] {
			continue
		}
		var principal, rebate decimal.Decimal
		if err := e.Pool.QueryRow(e.Ctx, `SELECT
  coalesce((SELECT p.balance_after FROM postings p JOIN accounts a ON a.id = p.account_id
            WHERE p.entry_id = $1 AND a.code = 'customer:' || $2 || ':prepaid'), -1),
  coalesce((SELECT p.balance_after FROM postings p JOIN accounts a ON a.id = p.account_id
            WHERE p.entry_id = $1 AND a.code = 'customer:' || $2 || ':rebate'), -1)`,
			ms[i].EntryID, ins[i].CustomerID).Scan(&principal, &rebate); err != nil {
			t.Fatal(err)
		}
		if !principal.Equal(ms[i].Principal.Decimal) || (!rebate.Equal(decimal.NewFromInt(-1)) && !rebate.Equal(ms[i].RebateBalance.Decimal)) {
			t.Errorf("%s %s answered principal %s rebate %s, its postings left %s and %s", kinds[i], ins[i].ID,
				ms[i].Principal, ms[i].RebateBalance, principal, rebate)
		}
	}
	var n int
	e.Scan(t, `SELECT count(*) FROM money_movements WHERE id LIKE 'g-%'`, &n)
	if n != 5 {
		t.Errorf("%d of the group's movements recorded, want 5", n)
	}
}

func (e *env) mixedSetup(t *testing.T) {
	e.Customer("A")
	e.Customer("B")
	e.Customer("N")
	e.MoneyAt(t, prepaid.Deposit, "old", "A", "300", servicetest.Start.Add(-time.Hour))
	e.MustMoney(prepaid.Deposit, "B", "200")
}

// TestAGroupRetriedAfterItsCommittingBatchFailedIsExact: the group's
// writes (sent with the COMMIT) fail once with a deadlock; the group is
// retried (ledger.InTx) and must answer as it would have the first time:
// nothing of the first attempt (balances priced, ids, records read) carried.
func TestAGroupRetriedAfterItsCommittingBatchFailedIsExact(t *testing.T) {
	e := newEnv(t)
	e.mixedSetup(t)
	e.FailOnce(t, "money_movements", "40P01")
	retries := e.Ledger.Stats().Retries.Load()
	kinds, ins := mixedGroup()
	ms, replayed, errs := e.Prepaid.MoveGroup(e.Ctx, kinds, ins, "test", false)
	if n := e.Ledger.Stats().Retries.Load() - retries; n != 1 {
		t.Errorf("%d retries, want 1", n)
	}
	if n := e.Prepaid.Stats().Fallbacks.Load(); n != 0 {
		t.Errorf("%d fallbacks, want 0", n)
	}
	e.checkAnswers(t, kinds, ins, ms, replayed, errs)
}

// TestAGroupRetriedAfterADeadlockInItsReadsRereadsThem: the group's
// first round trip (customer locks, reads, balance locks) meets a deadlock
// with a writer that holds B's balance and then wants A's customer lock;
// the deadlock aborts the group, which is retried. Between the attempts,
// that writer moved B's balance: the retry must price against the new
// balance.
func TestAGroupRetriedAfterADeadlockInItsReadsRereadsThem(t *testing.T) {
	e := newEnv(t)
	e.mixedSetup(t)
	kinds, ins := mixedGroup()
	// B's deposit of 10 and a charge of 150: with B's 200 it passes, with
	// 200 less 100 taken by the writer it is refused.
	kinds = append(kinds, prepaid.Charge)
	ins = append(ins, prepaid.MoneyInput{ID: "late-c", CustomerID: "B", Amount: d("150")})
	var r struct {
		ms       []prepaid.MoneyMovement
		replayed []bool
		errs     []error
	}
	// The writer holds B's balance, wants A's customer lock, then takes
	// 100 of B's balance. It asks for A's lock at once, so that the cycle
	// is whole before the group checks for one (after deadlock_timeout)
	// and gives way: had the writer been the one to find it, it would be
	// retried, and find B short after the group's charges.
	// The writer also checks for a deadlock only after a minute, so the
	// group is the one to find it, whichever started waiting first.
	retries := e.Deadlock(t, func(tx *ledger.Tx) error {
		if _, err := tx.Exec(e.Ctx, `SET LOCAL deadlock_timeout = '1min'`); err != nil {
			return err
		}
		_, err := tx.LockBalances(e.Ctx, "customer:B:prepaid")
		return err
	}, func(tx *ledger.Tx) error {
		if _, err := tx.Exec(e.Ctx, `SELECT FROM customers WHERE id = 'A' FOR UPDATE`); err != nil {
			return err
		}
		_, err := tx.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "deadlock", Postings: []ledger.PostingInput{
			{Account: "customer:B:prepaid", Amount: d("-100")},
			{Account: "platform:cash", Amount: d("100")},
		}})
		return err
	}, func() { r.ms, r.replayed, r.errs = e.Prepaid.MoveGroup(e.Ctx, kinds, ins, "test", false) })
	if retries < 1 {
		t.Errorf("%d retries, want at least 1", retries)
	}
	last := len(ins) - 1
	if fault.CodeOf(r.errs[last]) != fault.InsufficientFunds {
		t.Errorf("B's charge of 150 after the writer took 100 of 210: %v (%+v)", r.errs[last], r.ms[last])
	}
	e.checkAnswers(t, kinds[:last], ins[:last], r.ms[:last], r.replayed[:last], r.errs[:last])
}

// TestAGroupWithAnUnknownCustomerAnswersAsEachAlone: a group mixing
// known customers, a customer without accounts, and an unknown one (whose
// prepaid account exists, opened by a manual entry: the group's first
// round trip locks its balance too) falls back, and answers every movement
// as moveTx alone: the unknown customer's refused, the rest recorded.
func TestAGroupWithAnUnknownCustomerAnswersAsEachAlone(t *testing.T) {
	e := newEnv(t)
	e.mixedSetup(t)
	if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "review", Postings: []ledger.PostingInput{
		{Account: "customer:GHOST:prepaid", Amount: d("50")},
		{Account: "platform:cash", Amount: d("-50")},
	}}); err != nil {
		t.Fatal(err)
	}
	kinds, ins := mixedGroup()
	kinds = append(kinds, prepaid.Charge, prepaid.Deposit)
	ins = append(ins, prepaid.MoneyInput{ID: "g-ghost", CustomerID: "GHOST", Amount: d("5")},
		prepaid.MoneyInput{ID: "h-d9", CustomerID: "B", Amount: d("1")})
	ms, replayed, errs := e.Prepaid.MoveGroup(e.Ctx, kinds, ins, "test", false)
	if fault.CodeOf(errs[len(ins)-2]) != fault.UnknownCustomer {
		t.Errorf("the unknown customer's charge: %v", errs[len(ins)-2])
	}
	if errs[len(ins)-1] != nil {
		t.Errorf("B's deposit: %v", errs[len(ins)-1])
	}
	n := len(ins) - 2
	e.checkAnswers(t, kinds[:n], ins[:n], ms[:n], replayed[:n], errs[:n])
}
