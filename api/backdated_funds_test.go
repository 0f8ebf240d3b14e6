package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// A charge or a withdrawal may be dated back (within the back-dating
// window), but not before the money it takes came in: the books read as
// of any instant since would show the customer's account below zero.

func TestChargeDatedBeforeItsDepositIsRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "P1", "name": "P1"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "P1", "amount": "1000.00"}})
	back := time.Now().Add(-20 * 24 * time.Hour).UTC().Format(time.RFC3339)
	charge := map[string]any{"charge_id": "c1", "customer_id": "P1", "shipment_id": "SH1", "amount": "1020.00", "occurred_at": back}
	movements := h.count("money_movements")

	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/charges", key: "partner", body: charge}), 422, fault.InsufficientFunds)
	if p["account"] != "customer:P1:prepaid" {
		t.Errorf("refusal names account %v, want customer:P1:prepaid: %v", p["account"], p)
	}
	w := h.do(call{method: "POST", path: "/v1/withdrawals", key: "partner",
		body: map[string]any{"withdrawal_id": "w1", "customer_id": "P1", "amount": "1.00", "occurred_at": back}})
	wantProblem(t, w, 422, fault.InsufficientFunds)
	if n := h.count("money_movements"); n != movements {
		t.Errorf("%d movements after the refusals, want %d", n, movements)
	}
	wantBalances(t, h, "P1", "1000.00", "20.00")
	booksNeverBelowZero(t, h)

	// Dated now, the same charge is paid, as it always was.
	delete(charge, "occurred_at")
	charge["charge_id"] = "c2"
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner", body: charge})
	wantBalances(t, h, "P1", "0.00", "0.00")
	booksNeverBelowZero(t, h)
}

func TestBackdatedChargeCoveredFromThenOnIsPaid(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "P1", "name": "P1"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "P1", "amount": "1000.00", "occurred_at": daysFromNow(-30)}})
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c1", "customer_id": "P1", "shipment_id": "S1", "amount": "500.00", "occurred_at": daysFromNow(-20)}})
	// Dated before c1: the customer held 1,000.00 then and 500.00 once c1
	// was paid, so 400.00 more is covered all along.
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c2", "customer_id": "P1", "shipment_id": "S2", "amount": "400.00", "occurred_at": daysFromNow(-25)}})
	// Dated before the deposit, 110.00 is refused, though the customer
	// holds 100.00 of principal and 20.00 of rebate now; dated after it,
	// it is paid from both.
	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c3", "customer_id": "P1", "shipment_id": "S3", "amount": "110.00", "occurred_at": daysFromNow(-35)}}),
		422, fault.InsufficientFunds)
	if p["account"] != "customer:P1:prepaid" {
		t.Errorf("refusal names account %v, want customer:P1:prepaid: %v", p["account"], p)
	}
	wantBalances(t, h, "P1", "100.00", "20.00")
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c4", "customer_id": "P1", "shipment_id": "S4", "amount": "110.00", "occurred_at": daysFromNow(-25)}})
	wantBalances(t, h, "P1", "0.00", "10.00")
	booksNeverBelowZero(t, h)
}

// The rows of docs/RULES.md's "dated before the money". A partner's clock
// and the server's may disagree by the skew allowed:
// a withdrawal stamped two minutes before the deposit that pays for it
// (recorded first, dated when it was recorded) takes effect when the
// deposit did, and keeps the date it was sent with; six minutes before, it
// is refused.
func TestMovementWithinTheClockSkewOfItsFundsTakesEffectWithThem(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "P1", "name": "P1"}})
	d := h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "P1", "amount": "1000.00"}}).object(t)
	deposited, err := time.Parse(time.RFC3339Nano, d["occurred_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c1", "customer_id": "P1", "shipment_id": "S1", "amount": "1020.00",
			"occurred_at": deposited.Add(-20 * 24 * time.Hour).UTC().Format(time.RFC3339)}}), 422, fault.InsufficientFunds)
	early := deposited.Add(-6 * time.Minute).UTC().Format(time.RFC3339Nano)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/withdrawals", key: "partner",
		body: map[string]any{"withdrawal_id": "w0", "customer_id": "P1", "amount": "100.00", "occurred_at": early}}), 422, fault.InsufficientFunds)

	stamped := deposited.Add(-2 * time.Minute).UTC().Truncate(time.Second)
	w := h.expect(201, call{method: "POST", path: "/v1/withdrawals", key: "partner",
		body: map[string]any{"withdrawal_id": "w1", "customer_id": "P1", "amount": "100.00", "occurred_at": stamped.Format(time.RFC3339)}}).object(t)
	if at, _ := time.Parse(time.RFC3339Nano, w["occurred_at"].(string)); !at.Equal(stamped) {
		t.Errorf("withdrawal answered occurred_at %v, want %s as sent", w["occurred_at"], stamped)
	}
	var effective time.Time
	if err := h.pool.QueryRow(context.Background(), `SELECT effective_at FROM entries WHERE id = $1`, int64(w["entry_id"].(float64))).Scan(&effective); err != nil {
		t.Fatal(err)
	}
	if !effective.Equal(deposited) {
		t.Errorf("withdrawal's entry effective at %s, want the deposit's %s", effective.UTC(), deposited.UTC())
	}
	wantBalances(t, h, "P1", "900.00", "18.00")
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c2", "customer_id": "P1", "shipment_id": "S2", "amount": "900.00"}})
	wantBalances(t, h, "P1", "0.00", "18.00")
	booksNeverBelowZero(t, h)
}

// A charge dated before a charge recorded earlier must leave that one
// paid too: the customer held 1,000.00 as of its date, but only 100.00
// once the later-dated charge took 900.00, and holds 1,100.00 now.
func TestBackdatedChargeALaterChargeWouldOverdrawIsRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "P1", "name": "P1"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "P1", "amount": "1000.00", "occurred_at": daysFromNow(-30)}})
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c1", "customer_id": "P1", "shipment_id": "S1", "amount": "900.00", "occurred_at": daysFromNow(-20)}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d2", "customer_id": "P1", "amount": "1000.00"}})
	c2 := map[string]any{"charge_id": "c2", "customer_id": "P1", "shipment_id": "S2", "amount": "500.00", "occurred_at": daysFromNow(-25)}
	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/charges", key: "partner", body: c2}), 422, fault.InsufficientFunds)
	if p["account"] != "customer:P1:prepaid" {
		t.Errorf("refusal names account %v, want customer:P1:prepaid: %v", p["account"], p)
	}
	c2["amount"] = "100.00" // what c1 left of the first deposit
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner", body: c2})
	wantBalances(t, h, "P1", "1000.00", "40.00")
	booksNeverBelowZero(t, h)
}

// A withdrawal dated between two deposits takes principal the first one
// put there, but its clawback, priced from the balances now, takes rebate
// only the second one granted: refused, rather than priced otherwise.
func TestBackdatedWithdrawalsClawbackBeforeItsRebateIsRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "P1", "name": "P1"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d0", "customer_id": "P1", "amount": "900.00", "occurred_at": daysFromNow(-30)}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d2", "customer_id": "P1", "amount": "5000.00", "occurred_at": daysFromNow(-10)}})
	w := map[string]any{"withdrawal_id": "w1", "customer_id": "P1", "amount": "900.00", "occurred_at": daysFromNow(-20)}
	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/withdrawals", key: "partner", body: w}), 422, fault.InsufficientFunds)
	if p["account"] != "customer:P1:prepaid" {
		t.Errorf("refusal names account %v, want customer:P1:prepaid: %v", p["account"], p)
	}
	wantBalances(t, h, "P1", "5900.00", "150.00")
	// Dated after the second deposit, it is priced and taken as ever.
	w["occurred_at"], w["withdrawal_id"] = daysFromNow(-5), "w2"
	h.expect(201, call{method: "POST", path: "/v1/withdrawals", key: "partner", body: w})
	wantBalances(t, h, "P1", "5000.00", "127.11") // clawback 150 × 900 / 5900 = 22.88…, rounded up: 22.89
	booksNeverBelowZero(t, h)
}

// Many customers' movements at once, dated back and forth: whatever is
// refused, the books never show a customer's money below zero as of any
// instant, and they reconcile. Grouped movements with one dated before
// something on its customer's accounts are written one by one.
func TestRacingBackdatedMovementsNeverLeaveMoneyBelowZero(t *testing.T) {
	h := newHarness(t)
	const customers = 6
	for c := range customers {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": fmt.Sprintf("R%d", c), "name": "R"}})
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for c := range customers {
		for k := range 8 {
			wg.Go(func() {
				cust := fmt.Sprintf("R%d", c)
				var r response
				switch k % 4 {
				case 0:
					r = h.do(call{method: "POST", path: "/v1/deposits", key: "partner",
						body: map[string]any{"deposit_id": fmt.Sprintf("d%d-%d", c, k), "customer_id": cust, "amount": "1000.00", "occurred_at": daysFromNow(-k - 1)}})
				case 1:
					r = h.do(call{method: "POST", path: "/v1/charges", key: "partner",
						body: map[string]any{"charge_id": fmt.Sprintf("c%d-%d", c, k), "customer_id": cust, "shipment_id": "S", "amount": "700.00", "occurred_at": daysFromNow(-k - 2)}})
				case 2:
					r = h.do(call{method: "POST", path: "/v1/withdrawals", key: "partner",
						body: map[string]any{"withdrawal_id": fmt.Sprintf("w%d-%d", c, k), "customer_id": cust, "amount": "300.00", "occurred_at": daysFromNow(-k)}})
				default:
					r = h.do(call{method: "POST", path: "/v1/charges", key: "partner",
						body: map[string]any{"charge_id": fmt.Sprintf("n%d-%d", c, k), "customer_id": cust, "shipment_id": "S", "amount": "10.00"}})
				}
				mu.Lock()
				statuses[r.status]++
				mu.Unlock()
				if r.status != 201 {
					wantProblem(t, r, 422, fault.InsufficientFunds)
				}
			})
		}
	}
	wg.Wait()
	if statuses[201] == 0 || statuses[422] == 0 {
		t.Errorf("answers %v: want some movements paid and some refused", statuses)
	}
	booksNeverBelowZero(t, h)
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation failed: %v", rec)
	}
}

// wantBalances checks a customer's principal and rebate now, as the
// API writes them (trailing zeros trimmed).
func wantBalances(t *testing.T, h *harness, customer, principal, rebate string) {
	t.Helper()
	b := h.expect(200, call{method: "GET", path: "/v1/customers/" + customer + "/balances", key: "admin"}).object(t)
	pre, _ := b["prepaid"].(map[string]any)
	if pre["principal"] != principal || pre["rebate"] != rebate {
		t.Errorf("%s holds principal %v and rebate %v, want %s and %s", customer, pre["principal"], pre["rebate"], principal, rebate)
	}
}

// booksNeverBelowZero fails when any customer's principal or rebate, read
// as of the instant of any of its postings, is below zero.
func booksNeverBelowZero(t *testing.T, h *harness) {
	t.Helper()
	rows, err := h.pool.Query(context.Background(), `SELECT a.code, s.effective_at, s.balance::text FROM accounts a
CROSS JOIN LATERAL (SELECT effective_at, sum(amount) OVER (ORDER BY effective_at) AS balance FROM postings WHERE account_id = a.id) s
WHERE a.code ~ '^customer:.*:(prepaid|rebate)$' AND s.balance < 0 ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			code, balance string
			at            time.Time
		)
		if err := rows.Scan(&code, &at, &balance); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s as of %s: %s", code, at.UTC().Format(time.RFC3339), balance)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// A refund dated back before a redemption takes back no more points than
// the customer held from its date on; the rest is owed, as it is when they
// no longer hold them. Shipment S1 earns 100 points, the customer redeems
// them the next day, S2 earns 100 more on the tenth, and on the eleventh a
// refund of S1 dated an hour after it arrives: taking the 100 held now
// would leave the account at -100 as of the days between the redemption
// and S2. It takes nothing and leaves 100 owed; the next write that moves
// the customer's points settles them.
func TestBackdatedRefundTakesNoPointsHeldOnlySince(t *testing.T) {
	clock := servicetest.NewClock(servicetest.Start)
	h := harnessWithClock(t, clock)
	t0 := clock.Now()
	event := func(id, typ, shipment, amount string, at time.Time) map[string]any {
		return map[string]any{"event_id": id, "type": typ, "customer_id": "C", "shipment_id": shipment, "amount": amount,
			"occurred_at": at.UTC().Format(time.RFC3339Nano)}
	}
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C", "name": "C"}})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin",
		body: map[string]any{"sku": "pen", "name": "Pen", "kind": "standard", "points_price": "100"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: event("e1", "shipment.completed", "S1", "100", t0)})
	clock.Add(24 * time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/redemptions", key: "admin", body: map[string]any{"redemption_id": "r1", "customer_id": "C", "sku": "pen", "quantity": 1}})
	clock.Add(9 * 24 * time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: event("e2", "shipment.completed", "S2", "100", clock.Now())})
	clock.Add(24 * time.Hour)
	refund := h.expect(201, call{method: "POST", path: "/v1/events", key: "partner",
		body: event("e3", "shipment.refunded", "S1", "100", t0.Add(time.Hour))}).object(t)
	r, _ := refund["refund"].(map[string]any)
	if r["points_due"] != "100" || r["points_taken_back"] != "0" || r["points_owed"] != "100" {
		t.Errorf("refund %v: want 100 due, none taken back, 100 owed", r)
	}
	// The points S2 earned came after the refund's date, so the refund
	// could not take them; they are held now, and a settlement dated now
	// takes them at once: the customer does not hold points and owe.
	if p := h.heldPoints("C"); p["available"] != "0" || p["owed"] != "0" {
		t.Errorf("points after the refund: %v, want none available and none owed", p)
	}
	var settledAt time.Time
	if err := h.pool.QueryRow(context.Background(), `SELECT e.effective_at FROM entries e JOIN points_settlements s
    ON s.settlement_entry_id = e.id WHERE s.customer_id = 'C' AND s.points = 100`).Scan(&settledAt); err != nil {
		t.Fatalf("the settlement of 100 points: %v", err)
	}
	if !settledAt.Equal(clock.Now()) {
		t.Errorf("the settlement is effective at %s, want now (%s)", settledAt.UTC(), clock.Now().UTC())
	}
	pointsNeverBelowZero(t, h)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions", key: "admin",
		body: map[string]any{"redemption_id": "r2", "customer_id": "C", "sku": "pen", "quantity": 1}}), 422, fault.InsufficientPoints)
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "admin"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation failed: %v", rec)
	}
}

// A referee's refund dated back cancels their referrer's bonus as of its
// date: no more than the referrer's points held from then on. R's refund
// of S1, dated back, took 100 points while the bonus was still counted;
// the bonus cancelled at an earlier date then would leave R at -100 as of
// the days between R's redemption and S2. The cancellation takes what R
// held from its date on and owes the rest, settled at once from the points
// R holds now.
func TestBackdatedBonusCancellationTakesNoPointsHeldOnlySince(t *testing.T) {
	clock := servicetest.NewClock(servicetest.Start)
	h := harnessWithClock(t, clock)
	t0 := clock.Now()
	clock.Add(3 * time.Hour)
	event := func(id, typ, customer, shipment string, at time.Time) map[string]any {
		return map[string]any{"event_id": id, "type": typ, "customer_id": customer, "shipment_id": shipment, "amount": "100",
			"occurred_at": at.UTC().Format(time.RFC3339Nano)}
	}
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "R", "name": "R"}})
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "E", "name": "E", "referred_by": "R"}})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin",
		body: map[string]any{"sku": "pen", "name": "Pen", "kind": "standard", "points_price": "100"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: event("e1", "shipment.completed", "E", "SE", t0)})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: event("e2", "shipment.completed", "R", "S1", t0.Add(time.Hour))})
	clock.Add(24 * time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/redemptions", key: "admin", body: map[string]any{"redemption_id": "r1", "customer_id": "R", "sku": "pen", "quantity": 1}})
	clock.Add(24 * time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: event("e3", "shipment.completed", "R", "S2", clock.Now())})
	clock.Add(time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: event("e4", "shipment.refunded", "R", "S1", t0.Add(2*time.Hour))})
	cancel := h.expect(201, call{method: "POST", path: "/v1/events", key: "partner",
		body: event("e5", "shipment.refunded", "E", "SE", t0.Add(30*time.Minute))}).object(t)
	ref, _ := cancel["referral"].(map[string]any)
	if ref == nil || ref["points_owed"] == nil || ref["points_owed"] == "0" {
		t.Errorf("the cancellation answered %v: want points owed by R (R held less than the bonus from its date on)", ref)
	}
	pointsNeverBelowZero(t, h)
	if p := h.heldPoints("R"); p["owed"] != "0" && p["balance"] != "0" {
		t.Errorf("R holds and owes: %v", p)
	}
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "admin"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation failed: %v", rec)
	}
}

// A late expiry run (as_of in the past) takes at its as_of only what the
// account held from then on: points a cancelled redemption put back into a
// lot that had expired came back now, and taken as of the run's as_of they
// would leave the account at -100 from then until the cancellation. They
// expire from the instant they came back.
func TestLateExpiryRunTakesNoPointsThatCameBackSince(t *testing.T) {
	clock := servicetest.NewClock(servicetest.Start)
	h := harnessWithClock(t, clock)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C", "name": "C"}})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin",
		body: map[string]any{"sku": "pen", "name": "Pen", "kind": "standard", "points_price": "100"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: map[string]any{"event_id": "e1",
		"type": "shipment.completed", "customer_id": "C", "shipment_id": "S1", "amount": "100",
		"occurred_at": clock.Now().UTC().Format(time.RFC3339)}})
	clock.Add(24 * time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/redemptions", key: "admin", body: map[string]any{"redemption_id": "r1", "customer_id": "C", "sku": "pen", "quantity": 1}})
	var expires time.Time
	if err := h.pool.QueryRow(context.Background(), `SELECT max(expires_at) FROM points_lots`).Scan(&expires); err != nil {
		t.Fatal(err)
	}
	clock.Set(expires.Add(10 * 24 * time.Hour))
	cancelled := clock.Now()
	h.expect(200, call{method: "POST", path: "/v1/redemptions/r1/cancel", key: "admin"})
	run := h.expect(200, call{method: "POST", path: "/v1/jobs/expire?as_of=" + queryTime(expires.Add(time.Hour)), key: "admin"}).object(t)
	if run["points"] != "100" {
		t.Errorf("the run answered %v, want 100 points expired", run)
	}
	var at time.Time
	if err := h.pool.QueryRow(context.Background(), `SELECT effective_at FROM entries WHERE kind = 'expiry'`).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(cancelled) {
		t.Errorf("the expiry entry is effective at %s, want when the points came back (%s)", at.UTC(), cancelled.UTC())
	}
	pointsNeverBelowZero(t, h)
	if p := h.heldPoints("C"); p["balance"] != "0" {
		t.Errorf("points after the run: %v, want none", p)
	}
}

// daysFromNow is the instant n days from now (back when n < 0), as an
// RFC 3339 occurred_at.
func daysFromNow(n int) string {
	return time.Now().Add(time.Duration(n) * 24 * time.Hour).UTC().Format(time.RFC3339)
}

// pointsNeverBelowZero fails when any customer's points, read as of the
// instant of any of its postings, are below zero.
func pointsNeverBelowZero(t *testing.T, h *harness) {
	t.Helper()
	var code string
	var at time.Time
	err := h.pool.QueryRow(context.Background(), `SELECT a.code, s.effective_at FROM accounts a
CROSS JOIN LATERAL (SELECT effective_at, sum(amount) OVER (ORDER BY effective_at) AS balance FROM postings WHERE account_id = a.id) s
WHERE a.code ~ '^customer:.*:points$' AND s.balance < 0 LIMIT 1`).Scan(&code, &at)
	if err == nil {
		t.Errorf("%s is below zero as of %s", code, at.UTC().Format(time.RFC3339))
	} else if !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
}

// A deposit dated ahead of the server's clock (within the skew) and
// reversed before that instant comes: the reversal takes effect when the
// deposit does, not before it, or the principal and rebate would stand at
// -1,000.00 and -20.00 in between.
func TestReversalOfADepositDatedAheadTakesEffectWithIt(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "P1", "name": "P1"}})
	ahead := time.Now().Add(4 * time.Minute).UTC().Truncate(time.Second)
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "P1", "amount": "1000.00", "occurred_at": ahead.Format(time.RFC3339)}})
	h.expect(201, call{method: "POST", path: "/v1/deposits/d1/reversal", key: "admin", body: map[string]any{"reason": "sent twice"}})
	var effective time.Time
	if err := h.pool.QueryRow(context.Background(), `SELECT effective_at FROM entries WHERE reversal_of IS NOT NULL`).Scan(&effective); err != nil {
		t.Fatal(err)
	}
	if !effective.Equal(ahead) {
		t.Errorf("the reversal is effective at %s, want the deposit's %s", effective.UTC(), ahead)
	}
	wantBalances(t, h, "P1", "0.00", "0.00")
	booksNeverBelowZero(t, h)
}

// A manual entry dated back takes nothing its customer's account held only
// from a later instant: a deposit recorded today cannot pay a debit dated
// two days ago, though the balance now holds it. Dated now, the same entry
// is written.
func TestManualEntryDatedBackTakesNothingThatCameLater(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "M1", "name": "M1"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "M1", "amount": "1000.00"}})
	entry := func(effective *time.Time) map[string]any {
		body := map[string]any{"reason": "a correction", "postings": []map[string]any{
			{"account": "customer:M1:prepaid", "amount": "-400.00"}, {"account": "platform:cash", "amount": "400.00"}}}
		if effective != nil {
			body["effective_at"] = effective.UTC().Format(time.RFC3339)
		}
		return body
	}
	entries := h.count("entries")
	back := time.Now().Add(-48 * time.Hour)
	res := h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: entry(&back)})
	wantProblem(t, res, 422, fault.InsufficientFunds)
	if n := h.count("entries"); n != entries {
		t.Errorf("the refused entry wrote %d entries", n-entries)
	}
	wantBalances(t, h, "M1", "1000.00", "20.00")
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: entry(nil)})
	wantBalances(t, h, "M1", "600.00", "20.00")
	booksNeverBelowZero(t, h)
}

// A deposit reversed while another deposit of the customer is dated ahead
// of the clock: recorded first, d2 makes the balances now (and the order
// the entries were recorded in) cover d1's reversal, but as of now, before
// d2 takes effect, d1's money paid a charge, and taking it back would
// leave the principal at -800.00 until d2's instant.
func TestDepositReversalTakesNothingDatedAhead(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "A1", "name": "A1"}})
	ahead := time.Now().Add(4 * time.Minute).UTC().Truncate(time.Second)
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d2", "customer_id": "A1", "amount": "1000.00", "occurred_at": ahead.Format(time.RFC3339)}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "A1", "amount": "1000.00"}})
	h.expect(201, call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c1", "customer_id": "A1", "shipment_id": "S1", "amount": "800.00"}})
	entries := h.count("entries")
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d1/reversal", key: "admin", body: map[string]any{"reason": "sent twice"}}),
		422, fault.InsufficientFunds)
	if n := h.count("entries"); n != entries {
		t.Errorf("the refused reversal wrote %d entries", n-entries)
	}
	wantBalances(t, h, "A1", "1200.00", "40.00")
	booksNeverBelowZero(t, h)
}
