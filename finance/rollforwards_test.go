package finance_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

type pointsWant struct {
	opening, volume, referral, adjustment, redeemed, expired, closing int64
}

func (e *env) wantPoints(t *testing.T, from, to time.Time, want pointsWant, customers ...string) {
	t.Helper()
	rep, err := e.Finance.PointsRollForward(e.Ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	got := pointsWant{rep.Opening, rep.Earned["volume"], rep.Earned["referral"], rep.Earned["adjustment"], rep.Redeemed,
		rep.Expired, rep.Closing}
	if got != want || rep.Earned["feedback"] != 0 || rep.Earned["campaign"] != 0 {
		t.Errorf("points [%s, %s): %+v (earned %v), want %+v", from, to, got, rep.Earned, want)
	}
	var codes []string
	for _, c := range customers {
		codes = append(codes, ledger.CustomerAccount(c, "points"))
	}
	if opening := e.heldBefore(t, from, codes...); !opening.Equal(decimal.NewFromInt(rep.Opening)) {
		t.Errorf("points [%s, %s): opening %d, customers held %s", from, to, rep.Opening, opening)
	}
	if closing := e.heldBefore(t, to, codes...); !closing.Equal(decimal.NewFromInt(rep.Closing)) {
		t.Errorf("points [%s, %s): closing %d, customers held %s", from, to, rep.Closing, closing)
	}
}

// TestPointsRollForwardCountsExpiryReversalAndCancellation: a period in
// which points are earned, refunded, redeemed and a redemption cancelled
// (its points back in a lot that then expires), a manual adjustment from
// before the period reversed, and the expiry job run. Each line of the
// roll-forward is what the rules make of that history; the opening and
// closing are what the customers held; the expiry, effective at midnight
// starting February, counts in February, not January.
func TestPointsRollForwardCountsExpiryReversalAndCancellation(t *testing.T) {
	e := newEnv(t)
	e.Clock.Set(shanghaiAt(2026, 1, 26, 12))
	for _, c := range []string{"C1", "C2", "R"} {
		e.Customer(c)
	}
	e.Customer("E", "R")
	e.Ship("C1", "S1", "100", shanghaiAt(2026, 1, 10, 9)) // 100 points, expiring 2027-02-01
	e.Ship("C2", "S2", "70", shanghaiAt(2026, 1, 20, 9))  // 70 points, expiring 2027-02-01
	far := &ledger.Lot{ExpiresAt: shanghaiAt(2099, 1, 1, 0)}
	adjustment, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "ops", Reason: "goodwill",
		Postings: []ledger.PostingInput{
			{Account: "platform:points:earned:adjustment", Amount: d("-25")},
			{Account: "customer:C2:points", Amount: d("25"), Lot: far},
		}})
	if err != nil {
		t.Fatal(err)
	}
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 150})
	e.Product(catalog.Product{SKU: "clip", Name: "Clip", Kind: catalog.Standard, PointsPrice: 20})

	// January 2027.
	e.Clock.Set(shanghaiAt(2027, 1, 15, 12))
	e.Ship("C1", "S3", "300", shanghaiAt(2027, 1, 10, 9)) // 300 points (December's 0: floating x1)
	e.Ship("E", "S4", "60", shanghaiAt(2027, 1, 12, 9))   // 60 points, and R's referral bonus of 500
	pen, err := e.Redeem("C1", "pen", 1)                  // 100 from S1's lot, 50 from S3's
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Redeem("C2", "clip", 1); err != nil { // 20 from S2's lot: 50 left in it
		t.Fatal(err)
	}
	refund := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S3", "30", shanghaiAt(2027, 1, 13, 9)))
	if refund.Points != -30 {
		t.Fatalf("refund of 30 of 300: %d points, want -30", refund.Points)
	}
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", pen.ID, "", "test"); err != nil { // S1's lot holds 100 again
		t.Fatal(err)
	}
	if _, _, err := e.Ledger.Reverse(e.Ctx, adjustment.ID, ledger.ReversalInput{Actor: "ops", Reason: "posted in error"}); err != nil {
		t.Fatal(err)
	}

	// The expiry job the day after the lots expired: C1's restored 100 and
	// C2's 50.
	e.Clock.Set(shanghaiAt(2027, 2, 2, 12))
	rep, err := e.Loyalty.Expire(e.Ctx, shanghaiAt(2027, 2, 1, 0), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 2 || rep.Points != 150 {
		t.Fatalf("expiry %+v, want 2 customers and 150 points", rep)
	}
	// March, after the period.
	e.Clock.Set(shanghaiAt(2027, 3, 5, 12))
	e.Ship("C2", "S5", "10", shanghaiAt(2027, 3, 2, 9))

	customers := []string{"C1", "C2", "E", "R"}
	jan, feb, mar, apr := shanghaiAt(2027, 1, 1, 0), shanghaiAt(2027, 2, 1, 0), shanghaiAt(2027, 3, 1, 0), shanghaiAt(2027, 4, 1, 0)
	// Held at the start: 100 + 70 + 25. Earned: 300 + 60 - 30 volume, 500
	// referral, the adjustment's 25 reversed. Redeemed: 150 + 20 - 150.
	e.wantPoints(t, jan, mar, pointsWant{opening: 195, volume: 330, referral: 500, adjustment: -25, redeemed: 20,
		expired: 150, closing: 830}, customers...)
	e.wantPoints(t, jan, feb, pointsWant{opening: 195, volume: 330, referral: 500, adjustment: -25, redeemed: 20,
		expired: 0, closing: 980}, customers...)
	e.wantPoints(t, feb, mar, pointsWant{opening: 980, expired: 150, closing: 830}, customers...)
	e.wantPoints(t, mar, apr, pointsWant{opening: 830, volume: 10, closing: 840}, customers...)
	for c, want := range map[string]int64{"C1": 270, "C2": 10, "E": 60, "R": 500} {
		if got := e.Points(c).Balance; got != want {
			t.Errorf("%s holds %d points, want %d", c, got, want)
		}
	}
	e.Reconcile()
}

// rebateRows runs the rebate report and returns its rows by customer and
// the total.
func (e *env) rebateRows(t *testing.T, from, to time.Time) map[string]finance.RebateRow {
	t.Helper()
	rows := map[string]finance.RebateRow{}
	total, err := e.Finance.RebateReport(e.Ctx, from, to, func(r finance.RebateRow) error {
		rows[r.CustomerID] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rows["TOTAL"] = total
	return rows
}

// rebateWant is opening, granted, used, clawed back, adjustments, closing
// and deposits, as decimal strings.
type rebateWant [7]string

func wantRebateRow(t *testing.T, period string, got finance.RebateRow, want rebateWant) {
	t.Helper()
	fields := []decimal.Decimal{got.Opening, got.Granted, got.Used, got.ClawedBack, got.Adjustments, got.Closing, got.Deposits}
	for i, f := range fields {
		if !f.Equal(d(want[i])) {
			t.Errorf("%s, %s: opening, granted, used, clawed back, adjustments, closing, deposits = %v, want %v",
				period, got.CustomerID, fields, want)
			return
		}
	}
}

// TestRebateRollForwardCountsReversalsAndClawbacks: in March a customer
// withdraws (clawback), deposits and pays a charge that reaches into the
// rebate; another's February deposit is reversed; a third deposits in March
// and has it reversed in April. Each row is what the rebate schedule and the
// clawback rule make of that, a reversal counting against what it
// reversed in the period it is posted; the closings are the rebate balances
// at the end of the month.
func TestRebateRollForwardCountsReversalsAndClawbacks(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"C1", "C2", "C3"} {
		e.Customer(c)
	}
	e.Clock.Set(shanghaiAt(2026, 2, 15, 12))
	e.MoneyAt(t, prepaid.Deposit, "d1", "C1", "10000", shanghaiAt(2026, 2, 10, 9)) // 4%: 400
	e.MoneyAt(t, prepaid.Deposit, "d2", "C2", "5000", shanghaiAt(2026, 2, 11, 9))  // 3%: 150

	e.Clock.Set(shanghaiAt(2026, 3, 20, 12))
	w := e.MoneyAt(t, prepaid.Withdrawal, "w1", "C1", "2500", shanghaiAt(2026, 3, 5, 9)) // 400 x 2500 / 10000
	servicetest.WantMoney(t, "clawback", w.Clawback, "100.00")
	e.MoneyAt(t, prepaid.Deposit, "d3", "C1", "1000", shanghaiAt(2026, 3, 6, 9)) // 2%: 20
	c := e.MoneyAt(t, prepaid.Charge, "c1", "C1", "8600", shanghaiAt(2026, 3, 7, 9))
	servicetest.WantMoney(t, "charge from rebate", c.FromRebate, "100.00") // principal 8,500 first
	if _, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "d2", "bounced", "test"); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(shanghaiAt(2026, 3, 26, 12))
	e.MoneyAt(t, prepaid.Deposit, "d4", "C3", "2000", shanghaiAt(2026, 3, 25, 9)) // 2%: 40
	e.Clock.Set(shanghaiAt(2026, 4, 3, 12))
	if _, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, "", "d4", "bounced", "test"); err != nil {
		t.Fatal(err)
	}

	feb, mar, apr, may := shanghaiAt(2026, 2, 1, 0), shanghaiAt(2026, 3, 1, 0), shanghaiAt(2026, 4, 1, 0), shanghaiAt(2026, 5, 1, 0)
	february := e.rebateRows(t, feb, mar)
	wantRebateRow(t, "February", february["C1"], rebateWant{"0", "400", "0", "0", "0", "400", "10000"})
	wantRebateRow(t, "February", february["C2"], rebateWant{"0", "150", "0", "0", "0", "150", "5000"})
	wantRebateRow(t, "February", february["TOTAL"], rebateWant{"0", "550", "0", "0", "0", "550", "15000"})
	if len(february) != 3 {
		t.Errorf("February rows %v, want C1, C2 and the total", february)
	}

	march := e.rebateRows(t, mar, apr)
	wantRebateRow(t, "March", march["C1"], rebateWant{"400", "20", "100", "100", "0", "220", "1000"})
	wantRebateRow(t, "March", march["C2"], rebateWant{"150", "-150", "0", "0", "0", "0", "-5000"})
	wantRebateRow(t, "March", march["C3"], rebateWant{"0", "40", "0", "0", "0", "40", "2000"})
	wantRebateRow(t, "March", march["TOTAL"], rebateWant{"550", "-90", "100", "100", "0", "260", "-2000"})
	if r := march["C1"]; !r.EffectiveRate.Equal(d("0.02")) {
		t.Errorf("March C1 effective rate %s, want 20 / 1000", r.EffectiveRate)
	}

	april := e.rebateRows(t, apr, may)
	wantRebateRow(t, "April", april["C1"], rebateWant{"220", "0", "0", "0", "0", "220", "0"})
	wantRebateRow(t, "April", april["C3"], rebateWant{"40", "-40", "0", "0", "0", "0", "-2000"})
	wantRebateRow(t, "April", april["TOTAL"], rebateWant{"260", "-40", "0", "0", "0", "220", "-2000"})

	for _, p := range []struct {
		name     string
		from, to time.Time
		rows     map[string]finance.RebateRow
	}{{"February", feb, mar, february}, {"March", mar, apr, march}, {"April", apr, may, april}} {
		for _, c := range []string{"C1", "C2", "C3"} {
			code := ledger.CustomerAccount(c, "rebate")
			if p.rows[c].CustomerID == "" {
				continue // no row before the customer's first deposit
			}
			if open := e.heldBefore(t, p.from, code); !open.Equal(p.rows[c].Opening) {
				t.Errorf("%s, %s: opening %s, the balance was %s", p.name, c, p.rows[c].Opening, open)
			}
			if closing := e.heldBefore(t, p.to, code); !closing.Equal(p.rows[c].Closing) {
				t.Errorf("%s, %s: closing %s, the balance was %s", p.name, c, p.rows[c].Closing, closing)
			}
		}
	}
	e.Reconcile()
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
		e.Customer(c)
	}
	e.Clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai))
	var reversible []prepaid.MoneyMovement
	for range 300 {
		e.Clock.Add(time.Duration(r.IntN(36)) * time.Hour)
		c := customers[r.IntN(len(customers))]
		var m prepaid.MoneyMovement
		var err error
		switch op := r.IntN(10); {
		case op < 4:
			m, err = e.Money(prepaid.Deposit, c, decimal.New(int64(50000+r.IntN(3000000)), -2).String())
		case op < 6:
			m, err = e.Money(prepaid.Charge, c, decimal.New(int64(100+r.IntN(3000000)), -2).String())
		case op < 7: // a charge that reaches into the rebate
			b := e.Balances(t, c)
			amount := b.Prepaid.Principal.Add(b.Prepaid.Rebate.Div(decimal.NewFromInt(2))).RoundDown(2)
			if !amount.IsPositive() {
				continue
			}
			m, err = e.Money(prepaid.Charge, c, amount.String())
		case op < 9:
			m, err = e.Money(prepaid.Withdrawal, c, decimal.New(int64(100+r.IntN(200000)), -2).String())
		default:
			if len(reversible) > 0 {
				i := r.IntN(len(reversible))
				_, err = e.Prepaid.ReverseMoney(e.Ctx, reversible[i].Kind, "", reversible[i].ID, "correction", "test")
				reversible = append(reversible[:i], reversible[i+1:]...)
			}
		}
		switch fault.CodeOf(err) {
		case "":
			if m.ID != "" {
				reversible = append(reversible, m)
			}
		case fault.InsufficientFunds, fault.AlreadyReversed, fault.WithdrawnSince, fault.RebateDrawnSince:
		default:
			t.Fatalf("history: %v", err)
		}
	}
	// Monthly periods from the first movement to past the last one.
	bounds := []time.Time{time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai)}
	for !bounds[len(bounds)-1].After(e.Clock.Now()) {
		bounds = append(bounds, bounds[0].AddDate(0, len(bounds), 0))
	}
	if len(bounds) < 4 {
		t.Fatalf("the history spans %d months, want at least 3", len(bounds)-1)
	}
	var prevClosing map[string]decimal.Decimal
	var seen finance.RebateRow
	for i := 0; i+1 < len(bounds); i++ {
		rows := map[string]finance.RebateRow{}
		sum := finance.RebateRow{}
		total, err := e.Finance.RebateReport(e.Ctx, bounds[i], bounds[i+1], func(r finance.RebateRow) error {
			rows[r.CustomerID] = r
			sum.Opening, sum.Granted, sum.Used = sum.Opening.Add(r.Opening), sum.Granted.Add(r.Granted), sum.Used.Add(r.Used)
			sum.ClawedBack, sum.Closing, sum.Deposits = sum.ClawedBack.Add(r.ClawedBack), sum.Closing.Add(r.Closing), sum.Deposits.Add(r.Deposits)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range append([]finance.RebateRow{total}, values(rows)...) {
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
		prevClosing = map[string]decimal.Decimal{total.CustomerID: total.Closing}
		for c, r := range rows {
			prevClosing[c] = r.Closing
		}
		seen.Granted, seen.Used = seen.Granted.Add(total.Granted.Abs()), seen.Used.Add(total.Used.Abs())
		seen.ClawedBack = seen.ClawedBack.Add(total.ClawedBack.Abs())
	}
	if !seen.Granted.IsPositive() || !seen.Used.IsPositive() || !seen.ClawedBack.IsPositive() {
		t.Errorf("the history lacks some kind of movement: %+v", seen)
	}
	// Read at once (the console's chart), the months' totals are each
	// month's report's, and the whole period's rows and total are its
	// report's; so for the points report.
	var whole []finance.RebateRow
	wholeTotal, months, err := e.Finance.RebateReports(e.Ctx, bounds, func(r finance.RebateRow) error {
		whole = append(whole, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []finance.RebateRow
	wantTotal, err := e.Finance.RebateReport(e.Ctx, bounds[0], bounds[len(bounds)-1], func(r finance.RebateRow) error {
		want = append(want, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(append(whole, wholeTotal)) != fmt.Sprint(append(want, wantTotal)) || len(months) != len(bounds)-1 {
		t.Errorf("RebateReports over the whole %v (%d months), RebateReport %v", append(whole, wholeTotal), len(months), append(want, wantTotal))
	}
	points, pointMonths, err := e.Finance.PointsRollForwards(e.Ctx, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if want, err := e.Finance.PointsRollForward(e.Ctx, bounds[0], bounds[len(bounds)-1]); err != nil || fmt.Sprint(points) != fmt.Sprint(want) {
		t.Errorf("PointsRollForwards over the whole %+v, PointsRollForward %+v (%v)", points, want, err)
	}
	for i := range months {
		want, err := e.Finance.RebateReport(e.Ctx, bounds[i], bounds[i+1], func(finance.RebateRow) error { return nil })
		if err != nil || fmt.Sprint(months[i]) != fmt.Sprint(want) {
			t.Errorf("month %d: RebateReports' total %+v, RebateReport's %+v (%v)", i, months[i], want, err)
		}
		wantPoints, err := e.Finance.PointsRollForward(e.Ctx, bounds[i], bounds[i+1])
		if err != nil || fmt.Sprint(pointMonths[i]) != fmt.Sprint(wantPoints) {
			t.Errorf("month %d: PointsRollForwards' %+v, PointsRollForward's %+v (%v)", i, pointMonths[i], wantPoints, err)
		}
	}
	// The last period ends after the history: its closing is today's
	// rebate balances, for every customer.
	sum := decimal.Zero
	for _, c := range customers {
		b := e.Balances(t, c)
		sum = sum.Add(b.Prepaid.Rebate.Decimal)
		if closing, ok := prevClosing[c]; !ok || !b.Prepaid.Rebate.Equal(closing) {
			t.Errorf("%s rebate balance %s, last closing %s (listed: %v)", c, b.Prepaid.Rebate, closing, ok)
		}
	}
	if !sum.Equal(prevClosing[finance.RebateTotal]) || !sum.IsPositive() {
		t.Errorf("rebate balances sum to %s, last total closing %s", sum, prevClosing[finance.RebateTotal])
	}
	e.Reconcile() // rebates_match_rules among the checks: every rebate against its rules
}

func values(m map[string]finance.RebateRow) []finance.RebateRow {
	out := make([]finance.RebateRow, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestPointsRollForwardCountsOwedAndSettled: a refund the customer cannot
// give back in full counts all it was due in "earned" and the shortfall in
// "owed"; the points that settle it later count in "settled"; the identity
// holds per period: opening + earned - redeemed - expired + owed - settled
// = closing, each the customers' points as the ledger holds them.
func TestPointsRollForwardCountsOwedAndSettled(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // 100 points
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90})
	if _, err := e.Redeem("C1", "mug", 1); err != nil { // effective now, March 15
		t.Fatal(err)
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(2, 9))) // 100 due: 10 taken, 90 owed
	e.Ship("C1", "S2", "50", march(3, 9))                                            // 50 earned, settled at once (now)
	rep, err := e.Finance.PointsRollForward(e.Ctx, march(1, 0), shanghaiAt(2026, 4, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Opening != 0 || rep.Earned["volume"] != 100-100+50 || rep.Redeemed != 90 || rep.Owed != 90 || rep.Settled != 50 ||
		rep.Closing != 0 {
		t.Errorf("March: %+v, want 50 earned (100 less the 100 due, 50), 90 redeemed, 90 owed, 50 settled, closing 0", rep)
	}
	// Up to March 15: the redemption and the settlement (both recorded
	// now) are after it; the refund's 10 and 90 owed are in it.
	rep, err = e.Finance.PointsRollForward(e.Ctx, march(1, 0), march(15, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Earned["volume"] != 50 || rep.Redeemed != 0 || rep.Owed != 90 || rep.Settled != 0 || rep.Closing != 140 {
		t.Errorf("to March 15: %+v, want 50 earned, 90 owed, nothing settled, closing 140 (100 - 10 + 50)", rep)
	}
}

// TestPointsRollForwardCountsAnUndoneExpiryAgainstExpired: an expiry run
// on 1 March 2027 undone on 5 March, and the next run on 1 April taking
// the same points again. The undo counts against expired in the period it
// is posted: March nets to nothing expired, its first two days show the
// run, the rest of March a negative line; April shows the second run.
func TestPointsRollForwardCountsAnUndoneExpiryAgainstExpired(t *testing.T) {
	e := newEnv(t)
	e.Clock.Set(shanghaiAt(2026, 2, 15, 12))
	e.Customer("C1")
	e.Ship("C1", "S1", "100", shanghaiAt(2026, 2, 10, 9)) // 100 points, expiring 2027-03-01
	e.Clock.Set(shanghaiAt(2027, 3, 2, 12))
	run, err := e.Loyalty.Expire(e.Ctx, shanghaiAt(2027, 3, 1, 0), "test", nil)
	if err != nil || run.Points != 100 {
		t.Fatalf("run %+v, %v", run, err)
	}
	e.Clock.Set(shanghaiAt(2027, 3, 5, 12))
	if _, _, err := e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: "run by mistake", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(shanghaiAt(2027, 4, 2, 12))
	if again, err := e.Loyalty.Expire(e.Ctx, shanghaiAt(2027, 4, 1, 0), "test", nil); err != nil || again.Points != 100 {
		t.Fatalf("second run %+v, %v", again, err)
	}

	mar, mar3, apr, may := shanghaiAt(2027, 3, 1, 0), shanghaiAt(2027, 3, 3, 0), shanghaiAt(2027, 4, 1, 0), shanghaiAt(2027, 5, 1, 0)
	e.wantPoints(t, mar, apr, pointsWant{opening: 100, closing: 100}, "C1")
	e.wantPoints(t, mar, mar3, pointsWant{opening: 100, expired: 100, closing: 0}, "C1")
	e.wantPoints(t, mar3, apr, pointsWant{opening: 0, expired: -100, closing: 100}, "C1")
	e.wantPoints(t, apr, may, pointsWant{opening: 100, expired: 100, closing: 0}, "C1")
	e.Reconcile()
}
