package prepaid_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

func TestDepositRebatesFromTheSchedule(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ deposit, rate, rebate string }{
		{"12345.67", "0.04", "493.82"},
		{"999.99", "0", "0"},
		{"5000", "0.03", "150.00"},
		{"50000", "0.05", "2500.00"},
	} {
		t.Run(tc.deposit, func(t *testing.T) {
			c := "C" + tc.deposit
			e.Customer(c[:len(c)-3])
			m := e.MustMoney(prepaid.Deposit, c[:len(c)-3], tc.deposit)
			servicetest.WantMoney(t, "rate", m.Rate, tc.rate)
			servicetest.WantMoney(t, "rebate", m.Rebate, tc.rebate)
			if !m.Principal.Equal(d(tc.deposit)) || !m.RebateBalance.Equal(d(tc.rebate)) || m.RuleVersion != 1 {
				t.Errorf("balances %s / %s, version %d", m.Principal, m.RebateBalance, m.RuleVersion)
			}
		})
	}
	var zeroRate string
	e.Scan(t, `SELECT rate::text FROM money_movements WHERE amount = 999.99`, &zeroRate)
	if zeroRate != "0" {
		t.Errorf("a rebate rounding to nothing recorded rate %q, want 0", zeroRate)
	}
	e.Reconcile()
}

func TestChargeDrawsPrincipalThenRebate(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "12345.67")
	m := e.MustMoney(prepaid.Charge, "C1", "12500")
	servicetest.WantMoney(t, "from principal", m.FromPrincipal, "12345.67")
	servicetest.WantMoney(t, "from rebate", m.FromRebate, "154.33")
	if !m.Principal.IsZero() || !m.RebateBalance.Equal(d("339.49")) {
		t.Errorf("after the charge: principal %s rebate %s, want 0 and 339.49", m.Principal, m.RebateBalance)
	}
	_, err := e.Money(prepaid.Charge, "C1", "339.50")
	servicetest.WantCode(t, err, fault.InsufficientFunds)
	var n int
	e.Scan(t, `SELECT count(*) FROM money_movements WHERE kind = 'charge'`, &n)
	if n != 1 {
		t.Errorf("%d charges recorded, want the refused one not written", n)
	}
	e.MustMoney(prepaid.Charge, "C1", "339.49")
	e.Reconcile()
}

func TestWithdrawalClawsBackInProportion(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "10000") // rebate 400
	first := e.MustMoney(prepaid.Withdrawal, "C1", "2500")
	servicetest.WantMoney(t, "first clawback", first.Clawback, "100.00")
	second := e.MustMoney(prepaid.Withdrawal, "C1", "7500")
	servicetest.WantMoney(t, "second clawback", second.Clawback, "300.00")
	if !second.Principal.IsZero() || !second.RebateBalance.IsZero() {
		t.Errorf("after withdrawing everything: %s / %s", second.Principal, second.RebateBalance)
	}

	e.Customer("C2")
	e.MustMoney(prepaid.Deposit, "C2", "3000") // rebate 60; 17.77 more by hand makes 77.77
	if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "t", Reason: "goodwill",
		Postings: []ledger.PostingInput{{Account: "platform:rebate:expense", Amount: d("-17.77")},
			{Account: "customer:C2:rebate", Amount: d("17.77")}}}); err != nil {
		t.Fatal(err)
	}
	w := e.MustMoney(prepaid.Withdrawal, "C2", "1000")
	// 77.77 x 2000 / 3000 = 51.8466... is left, rounded down to 51.84.
	servicetest.WantMoney(t, "clawback of 77.77 x 1000 / 3000", w.Clawback, "25.93")
	_, err := e.Money(prepaid.Withdrawal, "C2", "2000.01")
	servicetest.WantCode(t, err, fault.InsufficientFunds)
	e.Reconcile()
}

func TestMoneyIdempotencyAndReversals(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	in := prepaid.MoneyInput{ID: "dep-1", CustomerID: "C1", Amount: d("5000"), OccurredAt: march(1, 9)}
	first, _, err := e.Prepaid.Deposit(e.Ctx, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	again, replayed, err := e.Prepaid.Deposit(e.Ctx, in, "test")
	if err != nil || !replayed || again.EntryID != first.EntryID {
		t.Errorf("replay: %+v replayed=%v err=%v", again, replayed, err)
	}
	in.Amount = d("5001")
	_, _, err = e.Prepaid.Deposit(e.Ctx, in, "test")
	servicetest.WantCode(t, err, fault.IdempotencyConflict)

	charge := e.MustMoney(prepaid.Charge, "C1", "5100") // all principal and 100 of the 150 rebate
	_, err = e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "dep-1", "bounced", "test")
	servicetest.WantCode(t, err, fault.InsufficientFunds) // the money has been spent
	rev, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Charge, "", charge.ID, "shipment cancelled", "test")
	if err != nil || rev.ReversalEntryID == nil || !rev.Principal.Equal(d("5000")) || !rev.RebateBalance.Equal(d("150")) {
		t.Fatalf("charge reversal: %+v %v", rev, err)
	}
	_, err = e.Prepaid.ReverseMoney(e.Ctx, prepaid.Charge, "", charge.ID, "again", "test")
	servicetest.WantCode(t, err, fault.AlreadyReversed)
	dep, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "dep-1", "bounced", "test")
	if err != nil || !dep.Principal.IsZero() || !dep.RebateBalance.IsZero() {
		t.Fatalf("deposit reversal (with its rebate): %+v %v", dep, err)
	}
	_, err = e.Prepaid.ReverseMoney(e.Ctx, prepaid.Withdrawal, "", "nope", "x", "test")
	servicetest.WantCode(t, err, fault.NotFound)
	e.Reconcile()
}

// TestConcurrentChargesNeverOverdraw: 40 goroutines charge one customer at
// once; exactly as many succeed as the money covers, and neither balance
// goes below zero.
func TestConcurrentChargesNeverOverdraw(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "1000") // 1000 principal + 20 rebate
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			_, err := e.Money(prepaid.Charge, "C1", "30")
			switch fault.CodeOf(err) {
			case "":
				ok.Add(1)
			case fault.InsufficientFunds:
				refused.Add(1)
			default:
				t.Errorf("charge: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 34 || refused.Load() != 6 { // 34 x 30 = 1020 exactly
		t.Errorf("%d charges, %d refused; want 34 and 6", ok.Load(), refused.Load())
	}
	b := e.Balances(t, "C1")
	if !b.Prepaid.Principal.IsZero() || !b.Prepaid.Rebate.IsZero() {
		t.Errorf("balances %+v, want both zero", b.Prepaid)
	}
	e.Reconcile()
}

func TestRebateReconciliationFindsAMispricedGrant(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("a recorded rebate is edited on purpose")
	e.Customer("C1")
	dep := e.MustMoney(prepaid.Deposit, "C1", "5000")
	if check, err := e.rebateCheck(); err != nil || !check.Pass {
		t.Fatalf("a correct grant fails: %+v %v", check, err)
	}
	// Someone edits the recorded rebate behind the ledger's back.
	if _, err := e.Pool.Exec(e.Ctx, `UPDATE money_movements SET rebate = 151`); err != nil {
		t.Fatal(err)
	}
	check, err := e.rebateCheck()
	if err != nil || check.Pass || len(check.Offending) != 1 || check.Offending[0] != "deposit:"+dep.ID {
		t.Errorf("a mispriced grant passes: %+v %v", check, err)
	}
}

// The same deposit id sent at once for two customers: exactly one is
// recorded, the other is an idempotency conflict (never an internal error,
// never both), and only the winner's balances move.
func TestMoneyIDRaceAcrossCustomers(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	customers := []string{"C1", "C2"}
	won := map[string]int{}
	for round := range 10 {
		id := fmt.Sprint("same-", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		moves := make([]prepaid.MoneyMovement, 2)
		for i, c := range customers {
			wg.Go(func() {
				moves[i], _, errs[i] = e.Prepaid.Deposit(e.Ctx, prepaid.MoneyInput{ID: id, CustomerID: c,
					Amount: d("1000"), OccurredAt: e.Clock.Now().Add(-time.Minute)}, "test")
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch fault.CodeOf(err) {
			case "":
				if winner >= 0 {
					t.Fatalf("round %d: both deposits recorded under one id", round)
				}
				winner = i
			case fault.IdempotencyConflict:
			default:
				t.Fatalf("round %d, %s: %v, want success or idempotency_conflict", round, customers[i], err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: both refused: %v", round, errs)
		}
		if m := moves[winner]; m.CustomerID != customers[winner] || m.ID != id {
			t.Errorf("round %d: the winner's answer %+v", round, m)
		}
		won[customers[winner]]++
		var owner string
		e.Scan(t, `SELECT customer_id FROM money_movements WHERE kind = 'deposit' AND id = '`+id+`'`, &owner)
		if owner != customers[winner] {
			t.Errorf("round %d: deposit recorded for %s, %s won", round, owner, customers[winner])
		}
	}
	// Each deposit of 1,000 is 1,000 principal and a 2% rebate of 20.
	for _, c := range customers {
		b := e.Balances(t, c)
		n := decimal.NewFromInt(int64(won[c]))
		if !b.Prepaid.Principal.Equal(d("1000").Mul(n)) || !b.Prepaid.Rebate.Equal(d("20").Mul(n)) {
			t.Errorf("%s won %d rounds, holds %s principal and %s rebate", c, won[c], b.Prepaid.Principal, b.Prepaid.Rebate)
		}
	}
	e.Reconcile()
}
