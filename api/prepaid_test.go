package api

import (
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestPrepaidWalkthrough is the README's: deposit 12,345.67 and see a 493.82
// rebate, charge 12,500 and see principal 0 and rebate 339.49, then pull the
// rebate roll-forward as CSV and see it close.
func TestPrepaidWalkthrough(t *testing.T) {
	h := newHarness(t)
	start := time.Now().Add(-time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	dep := h.do(call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d-1", "customer_id": "C1", "amount": "12345.67"}})
	wantStatus(t, dep, 201)
	if m := dep.object(t); m["rate"] != "0.04" || m["rebate"] != "493.82" || m["rule_version"] != float64(1) {
		t.Errorf("deposit %s", dep.body)
	}
	again := h.do(call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d-1", "customer_id": "C1", "amount": "12345.67"}})
	if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(dep.body) {
		t.Errorf("repeated deposit not a replay of the first: %d %s\n%s", again.status, again.body, dep.body)
	}
	ch := h.do(call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c-1", "customer_id": "C1", "amount": "12500", "shipment_id": "S1"}})
	wantStatus(t, ch, 201)
	if m := ch.object(t); m["principal"] != "0.00" || m["rebate_balance"] != "339.49" || m["from_rebate"] != "154.33" {
		t.Errorf("charge %s", ch.body)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c-2", "customer_id": "C1", "amount": "339.50", "shipment_id": "S2"}}),
		422, fault.InsufficientFunds)
	wd := h.do(call{method: "POST", path: "/v1/withdrawals", key: "partner",
		body: map[string]any{"withdrawal_id": "w-1", "customer_id": "C1", "amount": "0.01"}})
	wantProblem(t, wd, 422, fault.InsufficientFunds)

	bal := h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if p := bal["prepaid"].(map[string]any); p["principal"] != "0.00" || p["rebate"] != "339.49" {
		t.Errorf("balances %v", bal)
	}

	end := time.Now().Add(time.Minute)
	q := "/v1/reports/rebates?from=" + queryTime(start) + "&to=" + queryTime(end)
	js := h.do(call{method: "GET", path: q, key: "finance"})
	wantStatus(t, js, 200)
	total := js.object(t)["total"].(map[string]any)
	if total["opening"] != "0.00" || total["granted"] != "493.82" || total["used_by_charges"] != "154.33" ||
		total["closing"] != "339.49" || total["deposits"] != "12345.67" || total["effective_rate"] != "0.0400" {
		t.Errorf("rebate roll-forward %v", total)
	}
	csvRes := h.do(call{method: "GET", path: q + "&format=csv", key: "finance"})
	wantStatus(t, csvRes, 200)
	if ct := csvRes.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("content type %q", ct)
	}
	records, err := csv.NewReader(strings.NewReader(string(csvRes.body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, csvRes.body)
	}
	if len(records) != 3 || records[2][0] != "*TOTAL*" {
		t.Fatalf("CSV %v, want header, C1, *TOTAL*", records)
	}
	// The CSV says what the JSON says, figure for figure.
	for i, h := range records[0] {
		if records[2][i] != total[h] {
			t.Errorf("CSV %s = %s, JSON %v", h, records[2][i], total[h])
		}
	}
	viaAccept := h.expect(200, call{method: "GET", path: q, key: "finance", header: map[string]string{"Accept": "text/csv"}})
	if string(viaAccept.body) != string(csvRes.body) {
		t.Errorf("Accept: text/csv and ?format=csv differ")
	}
}

func TestMoneyBadInput(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             fault.Code
	}{
		{"Fen", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"1.001"}`, 422, fault.InvalidAmount},
		{"Negative", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"-1"}`, 422, fault.Invalid},
		{"Number", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":100}`, 422, fault.InvalidAmount},
		{"Huge", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"1e9999"}`, 422, fault.InvalidAmount},
		{"UnknownCustomer", "/v1/deposits", `{"deposit_id":"d","customer_id":"ghost","amount":"1"}`, 422, "unknown_customer"},
		{"WrongIDField", "/v1/deposits", `{"charge_id":"d","customer_id":"C1","amount":"1"}`, 400, fault.InvalidJSON},
		{"ChargeWithoutShipment", "/v1/charges", `{"charge_id":"c","customer_id":"C1","amount":"1"}`, 422, fault.Invalid},
		{"Overdraw", "/v1/charges", `{"charge_id":"c","customer_id":"C1","amount":"1","shipment_id":"S"}`, 422, fault.InsufficientFunds},
		{"BadID", "/v1/withdrawals", `{"withdrawal_id":"a b","customer_id":"C1","amount":"1"}`, 422, fault.Invalid},
		{"Future", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"1","occurred_at":"2999-01-01T00:00:00Z"}`, 422, fault.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, h.do(call{method: "POST", path: tc.path, key: "partner", body: tc.body, invalid: true}), tc.status, tc.code)
		})
	}
	for _, table := range []string{"money_movements", "entries"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%d rows in %s after bad input", n, table)
		}
	}
}

// money posts a deposit, charge or withdrawal as the partner.
func (h *harness) money(kind string, body map[string]any) response {
	h.t.Helper()
	return h.do(call{method: "POST", path: "/v1/" + kind + "s", key: "partner", body: body})
}

// wantMovement checks the figures a movement answers: each field of want
// against the JSON.
func wantMovement(t *testing.T, r response, want map[string]any) map[string]any {
	t.Helper()
	m := r.object(t)
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v: %s", k, m[k], v, r.body)
		}
	}
	return m
}

// balanceOf is an account's balance as finance reads it.
func (h *harness) balanceOf(code string) any {
	h.t.Helper()
	return h.expect(200, call{method: "GET", path: "/v1/accounts/" + code + "/balance", key: "finance"}).object(h.t)["balance"]
}

// TestWithdrawalClawsBackRebateInProportion follows the worked examples of docs/RULES.md: with
// principal 10,000 and rebate 400, withdrawing 2,500 claws back 100.00 and
// then 7,500 claws back 300.00; with principal 5,000 and rebate 150,
// withdrawing 1,234.56 claws back 37.04. The platform's cash and rebate
// expense move by the same figures, and a withdrawal_id reused with another
// amount records nothing.
func TestWithdrawalClawsBackRebateInProportion(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
	}
	// 10,000 is in the 4% tier, 5,000 in the 3% one.
	wantMovement(t, h.money("deposit", map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "10000"}),
		map[string]any{"rate": "0.04", "rebate": "400.00", "principal": "10000.00", "rebate_balance": "400.00"})
	wantMovement(t, h.money("deposit", map[string]any{"deposit_id": "d2", "customer_id": "C2", "amount": "5000"}),
		map[string]any{"rate": "0.03", "rebate": "150.00", "principal": "5000.00", "rebate_balance": "150.00"})

	w1 := h.money("withdrawal", map[string]any{"withdrawal_id": "w1", "customer_id": "C1", "amount": "2500"})
	wantStatus(t, w1, 201)
	first := wantMovement(t, w1, map[string]any{"kind": "withdrawal", "customer_id": "C1", "amount": "2500.00", "clawback": "100.00",
		"principal": "7500.00", "rebate_balance": "300.00", "reversal_entry_id": nil})
	w2 := h.money("withdrawal", map[string]any{"withdrawal_id": "w2", "customer_id": "C1", "amount": "7500"})
	wantStatus(t, w2, 201)
	wantMovement(t, w2, map[string]any{"amount": "7500.00", "clawback": "300.00", "principal": "0.00", "rebate_balance": "0.00"})
	w3 := h.money("withdrawal", map[string]any{"withdrawal_id": "w3", "customer_id": "C2", "amount": "1234.56"})
	wantStatus(t, w3, 201)
	wantMovement(t, w3, map[string]any{"clawback": "37.04", "principal": "3765.44", "rebate_balance": "112.96"})

	// The withdrawal's entry moves the amount and the clawback.
	entry := h.expect(200, call{method: "GET", path: fmt.Sprintf("/v1/entries/%v", first["entry_id"]), key: "finance"}).object(t)
	postings := map[string]string{}
	for _, p := range entry["postings"].([]any) {
		pm := p.(map[string]any)
		postings[pm["account"].(string)] = pm["amount"].(string)
	}
	if want := map[string]string{"customer:C1:prepaid": "-2500.00", "platform:cash": "2500.00",
		"customer:C1:rebate": "-100.00", "platform:rebate:expense": "100.00"}; !maps.Equal(postings, want) {
		t.Errorf("withdrawal entry postings %v, want %v", postings, want)
	}

	t.Run("ReplayAnswersTheWithdrawalAsItIsNow", func(t *testing.T) {
		again := h.money("withdrawal", map[string]any{"withdrawal_id": "w1", "customer_id": "C1", "amount": "2500"})
		wantStatus(t, again, 201)
		if again.header.Get("Idempotent-Replayed") != "true" {
			t.Error("replay not marked Idempotent-Replayed: true")
		}
		wantMovement(t, again, map[string]any{"entry_id": first["entry_id"], "clawback": "100.00", "principal": "0.00", "rebate_balance": "0.00"})
	})
	t.Run("SameIDOtherAmountConflicts", func(t *testing.T) {
		before := h.count("money_movements")
		wantProblem(t, h.money("withdrawal", map[string]any{"withdrawal_id": "w3", "customer_id": "C2", "amount": "1"}),
			409, fault.IdempotencyConflict)
		if n := h.count("money_movements"); n != before {
			t.Errorf("a refused withdrawal recorded %d movements", n-before)
		}
	})

	// Cash: 15,000 in, 11,234.56 out; rebate expense: 550 granted, 437.04 clawed back.
	for code, want := range map[string]string{"platform:cash": "-3765.44", "platform:rebate:expense": "-112.96",
		"customer:C1:prepaid": "0.00", "customer:C1:rebate": "0.00", "customer:C2:prepaid": "3765.44", "customer:C2:rebate": "112.96"} {
		if got := h.balanceOf(code); got != want {
			t.Errorf("%s balance %v, want %s", code, got, want)
		}
	}
}

// TestChargeAndWithdrawalReversalsPutTheMoneyBack: reversing a charge gives
// back what it took from principal and from rebate, reversing a withdrawal
// puts back the principal and the clawed-back rebate, each once, as an
// entry of kind reversal; reversing an unknown movement is 404, and ids
// reused with other details are 409, none of which records anything.
func TestChargeAndWithdrawalReversalsPutTheMoneyBack(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "10000"}})
	// Principal first, then rebate: 10,100 takes all 10,000 and 100 of the 400.
	ch := h.money("charge", map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "10100", "shipment_id": "S1"})
	wantStatus(t, ch, 201)
	charge := wantMovement(t, ch, map[string]any{"from_principal": "10000.00", "from_rebate": "100.00", "principal": "0.00", "rebate_balance": "300.00"})

	before := h.count("entries")
	for kind, body := range map[string]map[string]any{
		"deposit": {"deposit_id": "d1", "customer_id": "C1", "amount": "10001"},
		"charge":  {"charge_id": "c1", "customer_id": "C1", "amount": "10100", "shipment_id": "S2"},
	} {
		wantProblem(t, h.money(kind, body), 409, fault.IdempotencyConflict)
	}
	for _, path := range []string{"/v1/deposits/nope/reversal", "/v1/charges/nope/reversal", "/v1/withdrawals/nope/reversal"} {
		wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "x"}}), 404, fault.NotFound)
	}
	if n := h.count("entries"); n != before {
		t.Errorf("refused requests recorded %d entries", n-before)
	}

	reverse := func(kind, id string) response {
		t.Helper()
		return h.do(call{method: "POST", path: "/v1/" + kind + "s/" + id + "/reversal", key: "admin", body: map[string]any{"reason": "wrong customer"}})
	}
	// wantReversal checks the reversal's entry: kind reversal, of the
	// movement's entry, with its postings negated.
	wantReversal := func(m map[string]any) {
		t.Helper()
		rev, ok := m["reversal_entry_id"].(float64)
		if !ok {
			t.Fatalf("reversal_entry_id %v", m["reversal_entry_id"])
		}
		orig := h.expect(200, call{method: "GET", path: fmt.Sprintf("/v1/entries/%v", m["entry_id"]), key: "finance"}).object(t)
		back := h.expect(200, call{method: "GET", path: fmt.Sprintf("/v1/entries/%d", int64(rev)), key: "finance"}).object(t)
		if back["kind"] != "reversal" || back["reversal_of"] != m["entry_id"] {
			t.Errorf("reversal entry %v", back)
		}
		sums := map[string]decimal.Decimal{}
		for _, e := range []map[string]any{orig, back} {
			for _, p := range e["postings"].([]any) {
				pm := p.(map[string]any)
				sums[pm["account"].(string)] = sums[pm["account"].(string)].Add(decimal.RequireFromString(pm["amount"].(string)))
			}
		}
		for acct, sum := range sums {
			if !sum.IsZero() {
				t.Errorf("%s: movement and reversal sum to %s, want 0", acct, sum)
			}
		}
	}

	r := reverse("charge", "c1")
	wantStatus(t, r, 201)
	wantReversal(wantMovement(t, r, map[string]any{"entry_id": charge["entry_id"], "principal": "10000.00", "rebate_balance": "400.00"}))
	wantProblem(t, reverse("charge", "c1"), 409, fault.AlreadyReversed)

	w := h.money("withdrawal", map[string]any{"withdrawal_id": "w1", "customer_id": "C1", "amount": "2500"})
	wantStatus(t, w, 201)
	withdrawal := wantMovement(t, w, map[string]any{"clawback": "100.00", "principal": "7500.00", "rebate_balance": "300.00"})
	r = reverse("withdrawal", "w1")
	wantStatus(t, r, 201)
	wantReversal(wantMovement(t, r, map[string]any{"entry_id": withdrawal["entry_id"], "principal": "10000.00", "rebate_balance": "400.00"}))
	wantProblem(t, reverse("withdrawal", "w1"), 409, fault.AlreadyReversed)

	// A replay after the reversal answers the charge as it is now: reversed.
	again := h.money("charge", map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "10100", "shipment_id": "S1"})
	wantStatus(t, again, 201)
	if m := again.object(t); m["reversal_entry_id"] == nil || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay of a reversed charge: %s", again.body)
	}
	bal := h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if p := bal["prepaid"].(map[string]any); p["principal"] != "10000.00" || p["rebate"] != "400.00" {
		t.Errorf("balances after both reversals %v, want the deposit's 10000.00 and 400.00", p)
	}
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation %v", rec)
	}
	// A charge that drew rebate because the principal was gone stands in
	// the way of the reversal that would give the principal back.
	wantStatus(t, h.money("charge", map[string]any{"charge_id": "c2", "customer_id": "C1", "amount": "10000", "shipment_id": "S2"}), 201)
	wantStatus(t, h.money("charge", map[string]any{"charge_id": "c3", "customer_id": "C1", "amount": "100", "shipment_id": "S3"}), 201)
	wantProblem(t, reverse("charge", "c2"), 409, fault.RebateDrawnSince)
	wantStatus(t, reverse("charge", "c3"), 201)
	wantStatus(t, reverse("charge", "c2"), 201)
}

// A customer may be called TOTAL (helper-153's finding: the rebate CSV's
// last record was "TOTAL" too, and a spreadsheet summing or filtering by
// it took the customer for the total). The total is "*TOTAL*", which no
// customer id can be: the CSV has one record of each.
func TestACustomerNamedTOTALIsToldFromTheRebateCSVsTotal(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"A1", "TOTAL"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
	}
	start := time.Now().Add(-time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "A1", "amount": "5000"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d2", "customer_id": "TOTAL", "amount": "1000"}})
	res := h.expect(200, call{method: "GET", path: "/v1/reports/rebates?format=csv&from=" + queryTime(start), key: "finance"})
	records, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range records[1:] {
		ids = append(ids, r[0]+" "+r[7])
	}
	if want := []string{"A1 5000.00", "TOTAL 1000.00", "*TOTAL* 6000.00"}; !slices.Equal(ids, want) {
		t.Errorf("the rebate CSV's records (customer, deposits) are %q, want %q:\n%s", ids, want, res.body)
	}
}
