package prepaid_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// race sends rounds submissions of size movements of the kind and amount
// for the customer, each submission one call to the group commit (so that
// groups of several movements are certain), all at once; it answers every
// movement and error, and the ids sent.
func (e *env) race(kind, customer, amount string, rounds, size int) ([]prepaid.MoneyMovement, []error, []string) {
	var (
		mu    sync.Mutex
		moves []prepaid.MoneyMovement
		errs  []error
		ids   []string
		wg    sync.WaitGroup
	)
	for r := range rounds {
		wg.Go(func() {
			kinds, ins := make([]string, size), make([]prepaid.MoneyInput, size)
			for i := range ins {
				kinds[i] = kind
				ins[i] = prepaid.MoneyInput{ID: fmt.Sprintf("%s-%d-%d", kind, r, i), CustomerID: customer, Amount: d(amount),
					OccurredAt: e.Clock.Now().Add(-time.Minute)}
			}
			m, _, err := e.Prepaid.MoveTogether(e.Ctx, kinds, ins, "test")
			mu.Lock()
			defer mu.Unlock()
			moves, errs = append(moves, m...), append(errs, err...)
			for _, in := range ins {
				ids = append(ids, in.ID)
			}
		})
	}
	wg.Wait()
	return moves, errs, ids
}

// transactions is how many transactions wrote the entries of the
// movements with these ids.
func (e *env) transactions(t *testing.T, kind string, ids []string) int {
	t.Helper()
	var n int
	if err := e.Pool.QueryRow(e.Ctx, `SELECT count(DISTINCT p.xid) FROM money_movements m JOIN postings p ON p.entry_id = m.entry_id
WHERE m.kind = $1 AND m.id = ANY($2)`, kind, ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChargesRacingInGroupsRefuseExactlyWhatTheBalanceCannotPay: 48
// charges of 30 race, in eight submissions of six, for a balance of 1,020
// (1,000 principal and its 2% rebate). Exactly floor(1020 / 30) = 34 are
// recorded, each answering the balance left after its own place in line
// (1020 - 30k, each k once); the other 14 are refused with
// insufficient_funds and leave no trace; the groups wrote the charges in at
// most eight transactions.
func TestChargesRacingInGroupsRefuseExactlyWhatTheBalanceCannotPay(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "1000")
	moves, errs, ids := e.race(prepaid.Charge, "C1", "30", 8, 6)
	left := map[string]bool{} // principal + rebate after each charge recorded
	refused := 0
	for i, err := range errs {
		switch fault.CodeOf(err) {
		case "":
			total := moves[i].Principal.Add(moves[i].RebateBalance.Decimal).StringFixed(2)
			if left[total] {
				t.Errorf("two charges answered %s left", total)
			}
			left[total] = true
		case fault.InsufficientFunds:
			refused++
			var n int
			e.Scan(t, `SELECT count(*) FROM money_movements WHERE id = '`+ids[i]+`'`, &n)
			if n != 0 {
				t.Errorf("refused charge %s was recorded", ids[i])
			}
		default:
			t.Errorf("charge %s: %v, want success or insufficient_funds", ids[i], err)
		}
	}
	if len(left) != 34 || refused != 14 {
		t.Errorf("%d charges recorded, %d refused; want 34 and 14", len(left), refused)
	}
	for k := 1; k <= 34; k++ {
		if want := decimal.NewFromInt(int64(1020 - 30*k)).StringFixed(2); !left[want] {
			t.Errorf("no charge answered %s left", want)
		}
	}
	b := e.Balances(t, "C1")
	if !b.Prepaid.Principal.IsZero() || !b.Prepaid.Rebate.IsZero() {
		t.Errorf("balances %+v, want both zero", b.Prepaid)
	}
	if n := e.transactions(t, prepaid.Charge, ids); n < 1 || n > 8 {
		t.Errorf("the charges were written by %d transactions, want 1 to 8 (one group per submission at most)", n)
	}
	e.Reconcile()
}

// TestWithdrawalsRacingInGroupsRefuseExactlyWhatThePrincipalCannotPay: 40
// withdrawals of 30 race, in eight submissions of five, for a principal of
// 1,000 with a rebate of 20. Exactly floor(1000 / 30) = 33 are recorded;
// the one that leaves principal P answers the rebate that 33 withdrawals in
// a row leave by then, each rounded down to the fen (computed here from
// the rule, DOMAIN: the rebate left is rebate * (principal - W) /
// principal, rounded down); the other 7 are refused with
// insufficient_funds.
func TestWithdrawalsRacingInGroupsRefuseExactlyWhatThePrincipalCannotPay(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "1000")
	want := map[string]decimal.Decimal{} // principal left -> rebate left
	p, r := d("1000"), d("20")
	for range 33 {
		r = r.Mul(p.Sub(d("30"))).Div(p).RoundFloor(2)
		p = p.Sub(d("30"))
		want[p.StringFixed(2)] = r
	}
	moves, errs, ids := e.race(prepaid.Withdrawal, "C1", "30", 8, 5)
	seen, refused := map[string]bool{}, 0
	for i, err := range errs {
		switch fault.CodeOf(err) {
		case "":
			p := moves[i].Principal.StringFixed(2)
			w, ok := want[p]
			if !ok || seen[p] || !moves[i].RebateBalance.Equal(w) {
				t.Errorf("withdrawal %s answered principal %s, rebate %s (seen before: %v); want rebate %s", ids[i], p,
					moves[i].RebateBalance, seen[p], w)
			}
			seen[p] = true
		case fault.InsufficientFunds:
			refused++
		default:
			t.Errorf("withdrawal %s: %v, want success or insufficient_funds", ids[i], err)
		}
	}
	if len(seen) != 33 || refused != 7 {
		t.Errorf("%d withdrawals recorded, %d refused; want 33 and 7", len(seen), refused)
	}
	b := e.Balances(t, "C1")
	if !b.Prepaid.Principal.Equal(d("10")) || !b.Prepaid.Rebate.Equal(r) {
		t.Errorf("balances %+v, want principal 10 and rebate %s", b.Prepaid, r)
	}
	e.Reconcile()
}

// TestAGroupRecordsTheOthersWhenOneIsRefused: one submission of seven
// movements of one customer, written as one group in one transaction: the
// two refused (a charge, then a withdrawal, each beyond what is left) and
// the id reused with other details answer exactly what the same requests
// answer alone on the same balances, and leave nothing; the others are
// recorded, each answering the balances after it, and the repeated request
// answers as a replay.
func TestAGroupRecordsTheOthersWhenOneIsRefused(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"C1", "ALONE"} {
		e.Customer(c)
		e.MoneyAt(t, prepaid.Deposit, "d0-"+c, c, "100", e.Clock.Now().Add(-time.Hour)) // 0% rebate under 1,000
	}
	at := e.Clock.Now().Add(-time.Minute)
	in := func(id, amount string) prepaid.MoneyInput {
		return prepaid.MoneyInput{ID: id, CustomerID: "C1", Amount: d(amount), OccurredAt: at}
	}
	kinds := []string{prepaid.Charge, prepaid.Charge, prepaid.Withdrawal, prepaid.Charge, prepaid.Deposit, prepaid.Charge, prepaid.Charge}
	ins := []prepaid.MoneyInput{in("c1", "60"), in("c2", "60"), in("w1", "50"), in("c3", "40"), in("d1", "1000"),
		in("c1", "61"), in("c1", "60")}
	moves, replayed, errs := e.Prepaid.MoveTogether(e.Ctx, kinds, ins, "test")

	// The same requests alone, on the same balances: principal 40 after a
	// charge of 60.
	e.MoneyAt(t, prepaid.Charge, "c1-"+"ALONE", "ALONE", "60", at)
	alone := prepaid.MoneyInput{ID: "x", CustomerID: "ALONE", Amount: d("60"), OccurredAt: at}
	_, _, charge := e.Prepaid.Charge(e.Ctx, alone, "test")
	alone.Amount = d("50")
	_, _, withdrawal := e.Prepaid.Withdraw(e.Ctx, alone, "test")
	wantErr := map[int]error{1: charge, 2: withdrawal}
	for i, code := range map[int]fault.Code{1: fault.InsufficientFunds, 2: fault.InsufficientFunds, 5: fault.IdempotencyConflict} {
		servicetest.WantCode(t, errs[i], code)
		if w, ok := wantErr[i]; ok && errs[i].Error() != w.Error() {
			t.Errorf("movement %d in the group: %q; alone: %q", i, errs[i], w)
		}
	}
	var n int
	e.Scan(t, `SELECT count(*) FROM money_movements WHERE customer_id = 'C1' AND id IN ('c2', 'w1')`, &n)
	if n != 0 {
		t.Errorf("%d refused movements recorded", n)
	}
	// Recorded: each answers the balances after it (principal, rebate).
	for i, want := range map[int][2]string{0: {"40", "0"}, 3: {"0", "0"}, 4: {"1000", "20"}} {
		if errs[i] != nil || replayed[i] || !moves[i].Principal.Equal(d(want[0])) || !moves[i].RebateBalance.Equal(d(want[1])) {
			t.Errorf("movement %d: %+v replayed %v, %v; want principal %s, rebate %s", i, moves[i], replayed[i], errs[i], want[0], want[1])
		}
	}
	// The repeat answers the first charge, as a replay, with the balances
	// as they are when it is answered.
	if errs[6] != nil || !replayed[6] || moves[6].EntryID != moves[0].EntryID || !moves[6].Principal.Equal(d("1000")) {
		t.Errorf("the repeated charge: %+v replayed %v, %v; want a replay of entry %d", moves[6], replayed[6], errs[6], moves[0].EntryID)
	}
	var xids int
	e.Scan(t, `SELECT count(DISTINCT p.xid) FROM money_movements m JOIN postings p ON p.entry_id = m.entry_id
WHERE m.customer_id = 'C1' AND m.id IN ('c1', 'c3', 'd1')`, &xids)
	if xids != 1 {
		t.Errorf("the group was written by %d transactions, want 1", xids)
	}
	b := e.Balances(t, "C1")
	if !b.Prepaid.Principal.Equal(d("1000")) || !b.Prepaid.Rebate.Equal(d("20")) {
		t.Errorf("balances %+v, want 1000 and 20", b.Prepaid)
	}
	e.Reconcile()
}
