package loyalty_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

var moneySeq atomic.Int64

func (e *env) money(kind, customer, amount string) (loyalty.MoneyMovement, error) {
	in := loyalty.MoneyInput{ID: fmt.Sprintf("%s-%d", kind, moneySeq.Add(1)), CustomerID: customer, Amount: d(amount),
		OccurredAt: e.clock.now().Add(-time.Minute), ShipmentID: "S1"}
	var m loyalty.MoneyMovement
	var err error
	switch kind {
	case loyalty.Deposit:
		m, _, err = e.svc.Deposit(e.ctx, in, "test")
	case loyalty.Charge:
		m, _, err = e.svc.Charge(e.ctx, in, "test")
	case loyalty.Withdrawal:
		m, _, err = e.svc.Withdraw(e.ctx, in, "test")
	}
	return m, err
}

func (e *env) mustMoney(kind, customer, amount string) loyalty.MoneyMovement {
	e.t.Helper()
	m, err := e.money(kind, customer, amount)
	if err != nil {
		e.t.Fatalf("%s %s %s: %v", kind, customer, amount, err)
	}
	return m
}

func (e *env) balances(t testing.TB, customer string) loyalty.Balances {
	t.Helper()
	b, err := e.svc.Balances(e.ctx, customer)
	if err != nil {
		t.Fatalf("balances of %s: %v", customer, err)
	}
	return b
}

func wantMoney(t *testing.T, what string, got *decimal.Decimal, want string) {
	t.Helper()
	if got == nil || !got.Equal(d(want)) {
		t.Errorf("%s = %v, want %s", what, got, want)
	}
}

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
			e.customer(c[:len(c)-3])
			m := e.mustMoney(loyalty.Deposit, c[:len(c)-3], tc.deposit)
			wantMoney(t, "rate", m.Rate, tc.rate)
			wantMoney(t, "rebate", m.Rebate, tc.rebate)
			if !m.Principal.Equal(d(tc.deposit)) || !m.RebateBalance.Equal(d(tc.rebate)) || m.RuleVersion != 1 {
				t.Errorf("balances %s / %s, version %d", m.Principal, m.RebateBalance, m.RuleVersion)
			}
		})
	}
	var zeroRate string
	e.scan(t, `SELECT rate::text FROM money_movements WHERE amount = 999.99`, &zeroRate)
	if zeroRate != "0" {
		t.Errorf("a rebate rounding to nothing recorded rate %q, want 0", zeroRate)
	}
	e.reconcile()
}

func TestChargeDrawsPrincipalThenRebate(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	e.mustMoney(loyalty.Deposit, "C1", "12345.67")
	m := e.mustMoney(loyalty.Charge, "C1", "12500")
	wantMoney(t, "from principal", m.FromPrincipal, "12345.67")
	wantMoney(t, "from rebate", m.FromRebate, "154.33")
	if !m.Principal.IsZero() || !m.RebateBalance.Equal(d("339.49")) {
		t.Errorf("after the charge: principal %s rebate %s, want 0 and 339.49", m.Principal, m.RebateBalance)
	}
	_, err := e.money(loyalty.Charge, "C1", "339.50")
	wantCode(t, err, fault.InsufficientFunds)
	var n int
	e.scan(t, `SELECT count(*) FROM money_movements WHERE kind = 'charge'`, &n)
	if n != 1 {
		t.Errorf("%d charges recorded, want the refused one not written", n)
	}
	e.mustMoney(loyalty.Charge, "C1", "339.49")
	e.reconcile()
}

func TestWithdrawalClawsBackInProportion(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	e.mustMoney(loyalty.Deposit, "C1", "10000") // rebate 400
	first := e.mustMoney(loyalty.Withdrawal, "C1", "2500")
	wantMoney(t, "first clawback", first.Clawback, "100.00")
	second := e.mustMoney(loyalty.Withdrawal, "C1", "7500")
	wantMoney(t, "second clawback", second.Clawback, "300.00")
	if !second.Principal.IsZero() || !second.RebateBalance.IsZero() {
		t.Errorf("after withdrawing everything: %s / %s", second.Principal, second.RebateBalance)
	}

	e.customer("C2")
	e.mustMoney(loyalty.Deposit, "C2", "3000") // rebate 60; 17.77 more by hand makes 77.77
	if _, _, err := e.ledger.Post(e.ctx, ledger.EntryInput{Kind: "manual", Actor: "t", Reason: "goodwill",
		Postings: []ledger.PostingInput{{Account: "platform:rebate:expense", Amount: d("-17.77")},
			{Account: "customer:C2:rebate", Amount: d("17.77")}}}); err != nil {
		t.Fatal(err)
	}
	w := e.mustMoney(loyalty.Withdrawal, "C2", "1000")
	wantMoney(t, "clawback of 77.77 x 1000 / 3000", w.Clawback, "25.92")
	_, err := e.money(loyalty.Withdrawal, "C2", "2000.01")
	wantCode(t, err, fault.InsufficientFunds)
	e.reconcile()
}

func TestMoneyIdempotencyAndReversals(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	in := loyalty.MoneyInput{ID: "dep-1", CustomerID: "C1", Amount: d("5000"), OccurredAt: march(1, 9)}
	first, _, err := e.svc.Deposit(e.ctx, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	again, replayed, err := e.svc.Deposit(e.ctx, in, "test")
	if err != nil || !replayed || again.EntryID != first.EntryID {
		t.Errorf("replay: %+v replayed=%v err=%v", again, replayed, err)
	}
	in.Amount = d("5001")
	_, _, err = e.svc.Deposit(e.ctx, in, "test")
	wantCode(t, err, fault.IdempotencyConflict)

	charge := e.mustMoney(loyalty.Charge, "C1", "5100") // all principal and 100 of the 150 rebate
	_, err = e.svc.ReverseMoney(e.ctx, loyalty.Deposit, "dep-1", "bounced", "test")
	wantCode(t, err, fault.InsufficientFunds) // the money has been spent
	rev, err := e.svc.ReverseMoney(e.ctx, loyalty.Charge, charge.ID, "shipment cancelled", "test")
	if err != nil || rev.ReversalEntryID == nil || !rev.Principal.Equal(d("5000")) || !rev.RebateBalance.Equal(d("150")) {
		t.Fatalf("charge reversal: %+v %v", rev, err)
	}
	_, err = e.svc.ReverseMoney(e.ctx, loyalty.Charge, charge.ID, "again", "test")
	wantCode(t, err, fault.AlreadyReversed)
	dep, err := e.svc.ReverseMoney(e.ctx, loyalty.Deposit, "dep-1", "bounced", "test")
	if err != nil || !dep.Principal.IsZero() || !dep.RebateBalance.IsZero() {
		t.Fatalf("deposit reversal (with its rebate): %+v %v", dep, err)
	}
	_, err = e.svc.ReverseMoney(e.ctx, loyalty.Withdrawal, "nope", "x", "test")
	wantCode(t, err, fault.NotFound)
	e.reconcile()
}

// TestConcurrentChargesNeverOverdraw: 40 goroutines charge one customer at
// once; exactly as many succeed as the money covers, and neither balance
// goes below zero.
func TestConcurrentChargesNeverOverdraw(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	e.mustMoney(loyalty.Deposit, "C1", "1000") // 1000 principal + 20 rebate
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			_, err := e.money(loyalty.Charge, "C1", "30")
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
	b := e.balances(t, "C1")
	if !b.Prepaid.Principal.IsZero() || !b.Prepaid.Rebate.IsZero() {
		t.Errorf("balances %+v, want both zero", b.Prepaid)
	}
	e.reconcile()
}

// TestRollForwardIdentities: a random history of deposits, charges,
// withdrawals and reversals over several months; for every period the
// roll-forward adds up, each closing is the next opening, and the
// per-customer rows sum to the total.
func TestRollForwardIdentities(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(5, 5))
	customers := []string{"A", "B", "C", "D", "E"}
	for _, c := range customers {
		e.customer(c)
	}
	e.clock.set(time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai))
	var reversible []loyalty.MoneyMovement
	for range 300 {
		e.clock.add(time.Duration(r.IntN(36)) * time.Hour)
		c := customers[r.IntN(len(customers))]
		var m loyalty.MoneyMovement
		var err error
		switch op := r.IntN(10); {
		case op < 4:
			m, err = e.money(loyalty.Deposit, c, decimal.New(int64(50000+r.IntN(3000000)), -2).String())
		case op < 6:
			m, err = e.money(loyalty.Charge, c, decimal.New(int64(100+r.IntN(3000000)), -2).String())
		case op < 7: // a charge that reaches into the rebate
			b := e.balances(t, c)
			amount := b.Prepaid.Principal.Add(b.Prepaid.Rebate.Div(decimal.NewFromInt(2))).RoundDown(2)
			if !amount.IsPositive() {
				continue
			}
			m, err = e.money(loyalty.Charge, c, amount.String())
		case op < 9:
			m, err = e.money(loyalty.Withdrawal, c, decimal.New(int64(100+r.IntN(200000)), -2).String())
		default:
			if len(reversible) > 0 {
				i := r.IntN(len(reversible))
				_, err = e.svc.ReverseMoney(e.ctx, reversible[i].Kind, reversible[i].ID, "correction", "test")
				reversible = append(reversible[:i], reversible[i+1:]...)
			}
		}
		switch fault.CodeOf(err) {
		case "":
			if m.ID != "" {
				reversible = append(reversible, m)
			}
		case fault.InsufficientFunds, fault.AlreadyReversed:
		default:
			t.Fatalf("history: %v", err)
		}
	}
	// Monthly periods from the first movement to past the last one.
	bounds := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai)}
	for !bounds[len(bounds)-1].After(e.clock.now()) {
		bounds = append(bounds, bounds[0].AddDate(0, len(bounds), 0))
	}
	if len(bounds) < 4 {
		t.Fatalf("the history spans %d months, want at least 3", len(bounds)-1)
	}
	var prevClosing map[string]decimal.Decimal
	var seen loyalty.RebateRow
	for i := 0; i+1 < len(bounds); i++ {
		rows := map[string]loyalty.RebateRow{}
		sum := loyalty.RebateRow{}
		total, err := e.svc.RebateReport(e.ctx, bounds[i], bounds[i+1], func(r loyalty.RebateRow) error {
			rows[r.CustomerID] = r
			sum.Opening, sum.Granted, sum.Used = sum.Opening.Add(r.Opening), sum.Granted.Add(r.Granted), sum.Used.Add(r.Used)
			sum.ClawedBack, sum.Closing, sum.Deposits = sum.ClawedBack.Add(r.ClawedBack), sum.Closing.Add(r.Closing), sum.Deposits.Add(r.Deposits)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append([]loyalty.RebateRow{total}, values(rows)...) {
			if got := r.Opening.Add(r.Granted).Sub(r.Used).Sub(r.ClawedBack).Add(r.Adjustments); !got.Equal(r.Closing) {
				t.Errorf("period %d, %s: opening %s + granted %s - used %s - clawed back %s + adj %s = %s, closing %s",
					i, r.CustomerID, r.Opening, r.Granted, r.Used, r.ClawedBack, r.Adjustments, got, r.Closing)
			}
			if prevClosing != nil && !r.Opening.Equal(prevClosing[r.CustomerID]) {
				t.Errorf("period %d, %s: opening %s, previous closing %s", i, r.CustomerID, r.Opening, prevClosing[r.CustomerID])
			}
		}
		if !sum.Opening.Equal(total.Opening) || !sum.Granted.Equal(total.Granted) || !sum.Used.Equal(total.Used) ||
			!sum.ClawedBack.Equal(total.ClawedBack) || !sum.Closing.Equal(total.Closing) || !sum.Deposits.Equal(total.Deposits) {
			t.Errorf("period %d: customers sum to %+v, total %+v", i, sum, total)
		}
		prevClosing = map[string]decimal.Decimal{"TOTAL": total.Closing}
		for c, r := range rows {
			prevClosing[c] = r.Closing
		}
		seen.Granted, seen.Used = seen.Granted.Add(total.Granted.Abs()), seen.Used.Add(total.Used.Abs())
		seen.ClawedBack = seen.ClawedBack.Add(total.ClawedBack.Abs())
	}
	if !seen.Granted.IsPositive() || !seen.Used.IsPositive() || !seen.ClawedBack.IsPositive() {
		t.Errorf("the history lacks some kind of movement: %+v", seen)
	}
	// The last period ends after the history: its closing is today's
	// rebate balances, for every customer.
	sum := decimal.Zero
	for _, c := range customers {
		b := e.balances(t, c)
		sum = sum.Add(b.Prepaid.Rebate)
		if closing, ok := prevClosing[c]; !ok || !b.Prepaid.Rebate.Equal(closing) {
			t.Errorf("%s rebate balance %s, last closing %s (listed: %v)", c, b.Prepaid.Rebate, closing, ok)
		}
	}
	if !sum.Equal(prevClosing["TOTAL"]) || !sum.IsPositive() {
		t.Errorf("rebate balances sum to %s, last total closing %s", sum, prevClosing["TOTAL"])
	}
	e.reconcile()
	check, err := e.rebateCheck()
	if err != nil || !check.Pass {
		t.Errorf("rebates against their rules: %+v %v", check, err)
	}
}

// rebateCheck is the outcome of loyalty's rebate invariant in a ledger
// reconciliation.
func (e *env) rebateCheck() (ledger.Check, error) {
	r, err := e.ledger.Reconcile(e.ctx, e.svc.RebateCheck)
	if err != nil {
		return ledger.Check{}, err
	}
	for _, c := range r.Checks {
		if c.Name == "rebates_match_rules" {
			return c, nil
		}
	}
	return ledger.Check{}, fmt.Errorf("no rebates_match_rules among the checks")
}

func values(m map[string]loyalty.RebateRow) []loyalty.RebateRow {
	out := make([]loyalty.RebateRow, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestRebateReconciliationFindsAMispricedGrant(t *testing.T) {
	e := newEnv(t)
	e.breaksBooks("a recorded rebate is edited on purpose")
	e.customer("C1")
	dep := e.mustMoney(loyalty.Deposit, "C1", "5000")
	if check, err := e.rebateCheck(); err != nil || !check.Pass {
		t.Fatalf("a correct grant fails: %+v %v", check, err)
	}
	// Someone edits the recorded rebate behind the ledger's back.
	if _, err := e.pool.Exec(e.ctx, `UPDATE money_movements SET rebate = 151`); err != nil {
		t.Fatal(err)
	}
	check, err := e.rebateCheck()
	if err != nil || check.Pass || len(check.Offending) != 1 || check.Offending[0] != "deposit:"+dep.ID {
		t.Errorf("a mispriced grant passes: %+v %v", check, err)
	}
}

func TestPointsReportAndSegments(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.customer(fmt.Sprintf("C%02d", i))
	}
	e.customer("R")
	e.customer("E", "R")
	for i := range 20 {
		e.ship(fmt.Sprintf("C%02d", i), fmt.Sprintf("S%02d", i), fmt.Sprint(100*(i+1)*(i+1)), march(2, 9))
	}
	e.ship("E", "SE", "60", march(3, 9))
	e.product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	if _, err := e.redeem("C05", "pen", 2); err != nil {
		t.Fatal(err)
	}
	e.mustProcess(e.event(loyalty.ShipmentRefunded, "C03", "S03", "800", march(4, 9)))

	rep, err := e.svc.PointsRollForward(e.ctx, march(1, 0), march(16, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Opening != 0 || rep.Redeemed != 200 || rep.Earned["referral"] != 500 || rep.Expired != 0 {
		t.Errorf("points report %+v", rep)
	}
	if rep.Opening+rep.EarnedTotal()-rep.Redeemed-rep.Expired != rep.Closing {
		t.Errorf("roll-forward does not add up: %+v", rep)
	}
	var held int64
	e.scan(t, `SELECT sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code LIKE 'customer:%:points'`, &held)
	if rep.Closing != held {
		t.Errorf("closing %d, customers hold %d", rep.Closing, held)
	}

	seg, err := e.svc.Segments(e.ctx, rules.Month("2026-03"))
	if err != nil {
		t.Fatal(err)
	}
	if seg.Customers != 22 {
		t.Errorf("%d customers, want 22", seg.Customers)
	}
	classes := map[string]loyalty.GroupRow{}
	for _, c := range seg.Classes {
		classes[c.Name] = c
	}
	// 22 customers: A = ceil(1.1) = 2, B = ceil(4.4) - 2 = 3, C = 17.
	if classes["A"].Customers != 2 || classes["B"].Customers != 3 || classes["C"].Customers != 17 {
		t.Errorf("classes %+v", seg.Classes)
	}
	// A: C19 (40,000) and C18 (36,100) of 287,060 shipped less 800 refunded.
	if !classes["A"].Contribution.Equal(d("76100")) || !classes["A"].Share.Equal(d("0.2658")) {
		t.Errorf("A %+v, total %s", classes["A"], seg.Contribution)
	}
	sum := decimal.Zero
	n := 0
	for _, s := range seg.Segments {
		sum, n = sum.Add(s.Contribution), n+s.Customers
	}
	if !sum.Equal(seg.Contribution) || n != seg.Customers {
		t.Errorf("segments sum to %s over %d customers, want %s over %d", sum, n, seg.Contribution, seg.Customers)
	}
}
