package api

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// books is what a refused write must leave as it was: the rows of the
// ledger, and the marks a reversal or a cancellation leaves on its
// movement, redemption and product.
func (h *harness) books() map[string]int {
	h.t.Helper()
	return map[string]int{
		"entries":               h.count("entries"),
		"postings":              h.count("postings"),
		"reversed movements":    h.count("money_movements WHERE reversal_entry_id IS NOT NULL"),
		"cancelled redemptions": h.count("redemptions WHERE cancelled_at IS NOT NULL"),
		"products in stock":     h.count("products WHERE stock > 0"),
	}
}

// wantUnwritten fails the test if the books differ from before.
func (h *harness) wantUnwritten(what string, before map[string]int) {
	h.t.Helper()
	if after := h.books(); !reflect.DeepEqual(after, before) {
		h.t.Errorf("%s wrote to the books: %v, before %v", what, after, before)
	}
}

// wantInvalid checks a 422 invalid whose problem names field.
func wantInvalid(t *testing.T, r response, field string) {
	t.Helper()
	p := wantProblem(t, r, 422, fault.Invalid)
	if fields, _ := p["errors"].(map[string]any); fields[field] == nil {
		t.Errorf("the problem does not name %q: %s", field, r.body)
	}
}

// TestReadsWithoutParametersRefuseQueryValuesThatAreNotText: the products,
// the rule versions and the reconciliation take no query parameter, yet a
// query value that is not text (a NUL, a byte that is not UTF-8) is
// refused 422 invalid naming it, as for every operation, while the same
// parameter holding text is answered 200.
func TestReadsWithoutParametersRefuseQueryValuesThatAreNotText(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/v1/products", "/v1/rules/versions", "/v1/reconciliation"} {
		h.expect(200, call{method: "GET", path: path + "?note=plain", key: "admin", invalid: true})
		for _, v := range []string{"%00", "%FF", "a%00b"} {
			wantInvalid(t, h.do(call{method: "GET", path: path + "?note=" + v, key: "finance", invalid: true}), "note")
		}
	}
}

// TestCancellingARedemptionWithAParameterThatIsNotTextIsRefused: a
// redemption's cancellation whose query value or redemption id is not text
// is refused 422 invalid naming the parameter, and leaves the redemption,
// the stock and the books as they were; the same cancellation with text
// parameters then goes through.
func TestCancellingARedemptionWithAParameterThatIsNotTextIsRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Minute))})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "mug", "name": "Mug",
		"kind": "featured", "points_price": "50", "valid_from": time.Now().Add(-time.Hour).Format(time.RFC3339),
		"valid_until": time.Now().Add(time.Hour).Format(time.RFC3339), "stock": 1}})
	h.expect(201, call{method: "POST", path: "/v1/redemptions", key: "customer",
		body: map[string]any{"redemption_id": "r1", "customer_id": "C1", "sku": "mug", "quantity": 1}})

	before := h.books()
	body := map[string]any{"reason": "changed their mind"}
	for _, v := range []string{"%00", "%FF", "a%00b"} {
		for _, key := range []string{"admin", "customer"} {
			r := h.do(call{method: "POST", path: "/v1/redemptions/r1/cancel?note=" + v, key: key, body: body, invalid: true})
			wantInvalid(t, r, "note")
		}
		r := h.do(call{method: "POST", path: "/v1/redemptions/" + v + "/cancel", key: "admin", body: body, invalid: true})
		wantInvalid(t, r, "id")
	}
	h.wantUnwritten("a refused cancellation", before)

	cancelled := h.expect(200, call{method: "POST", path: "/v1/redemptions/r1/cancel?note=plain", key: "customer", body: body,
		invalid: true}).object(t)
	if cancelled["status"] != "cancelled" {
		t.Errorf("the cancellation with text parameters: %v", cancelled)
	}
}

// TestMoneyReversalsWithoutAReasonOrWithSpentMoneyAreRefused: reversing a
// deposit, a charge or a withdrawal with no reason, an empty one or only
// blanks is 422 invalid naming `reason`; reversing a deposit part of whose
// money has been spent since is 422 insufficient_funds, and the charge's
// before the withdrawal priced on what it left is 409 withdrawn_since. None
// writes anything. Once the withdrawal and the charge that spent it are
// reversed (with a reason), the deposit's reversal goes through.
func TestMoneyReversalsWithoutAReasonOrWithSpentMoneyAreRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	wantStatus(t, h.money("deposit", map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "10000"}), 201)
	wantStatus(t, h.money("charge", map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "100", "shipment_id": "S1"}), 201)
	wantStatus(t, h.money("withdrawal", map[string]any{"withdrawal_id": "w1", "customer_id": "C1", "amount": "100"}), 201)
	reverse := func(kind, id string, body any) response {
		t.Helper()
		return h.do(call{method: "POST", path: "/v1/" + kind + "s/" + id + "/reversal", key: "admin", body: body, invalid: body == "{}"})
	}

	before := h.books()
	movements := []struct{ kind, id string }{{"deposit", "d1"}, {"charge", "c1"}, {"withdrawal", "w1"}}
	for _, m := range movements {
		for _, body := range []any{"{}", map[string]any{"reason": ""}, map[string]any{"reason": " \t\n "}} {
			wantInvalid(t, reverse(m.kind, m.id, body), "reason")
		}
	}
	h.wantUnwritten("a reversal without a reason", before)

	// The deposit put 10,000 of principal; the charge and the withdrawal
	// took 200 of it, so taking the deposit back would leave it below zero.
	wantProblem(t, reverse("deposit", "d1", map[string]any{"reason": "bounced"}), 422, fault.InsufficientFunds)
	h.wantUnwritten("a refused reversal of a spent deposit", before)

	// The charge only after the withdrawal priced on what it left.
	wantProblem(t, reverse("charge", "c1", map[string]any{"reason": "recorded for the wrong customer"}), 409, fault.WithdrawnSince)
	h.wantUnwritten("a refused reversal of a charge a later withdrawal was priced on", before)
	for _, m := range []struct{ kind, id string }{{"withdrawal", "w1"}, {"charge", "c1"}} {
		wantStatus(t, reverse(m.kind, m.id, map[string]any{"reason": "recorded for the wrong customer"}), 201)
	}
	wantStatus(t, reverse("deposit", "d1", map[string]any{"reason": "bounced"}), 201)
	if n, want := h.count("money_movements WHERE reversal_entry_id IS NOT NULL"), 3; n != want {
		t.Errorf("%d movements reversed, want %d", n, want)
	}
}

// TestHandReversalOfAManualDebitWaitsForTheChargeItPriced: a manual debit
// of a customer's principal, a charge paid from rebate since the principal
// was gone, then the debit reversed by hand over HTTP: 409
// rebate_drawn_since, nothing written. Once the charge is reversed, the
// debit's reversal retried by eight racing requests with one
// Idempotency-Key reverses it once and answers the others as replays; the
// key with another reason is idempotency_conflict; the books reconcile.
func TestHandReversalOfAManualDebitWaitsForTheChargeItPriced(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	wantStatus(t, h.money("deposit", map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "50000"}), 201)
	debit := h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
		"reason": "posted to the wrong customer", "postings": []map[string]any{
			{"account": "customer:C1:prepaid", "amount": "-50000"}, {"account": "platform:cash", "amount": "50000"}}}}).object(t)
	wantStatus(t, h.money("charge", map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "2500", "shipment_id": "S1"}), 201)
	path := fmt.Sprintf("/v1/entries/%v/reversal", debit["id"])
	undo := call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "mistake"},
		header: map[string]string{"Idempotency-Key": "undo-debit"}}

	before := h.books()
	wantProblem(t, h.do(undo), 409, fault.RebateDrawnSince)
	h.wantUnwritten("a refused hand reversal", before)

	wantStatus(t, h.do(call{method: "POST", path: "/v1/charges/c1/reversal", key: "admin", body: map[string]any{"reason": "cancelled"}}), 201)
	first := wantOneEffect(t, h.racing(8, undo), 201)
	if rev := first.object(t); rev["reversal_of"] != debit["id"] {
		t.Errorf("the reversal %s is not of entry %v", first.body, debit["id"])
	}
	other := undo
	other.body = map[string]any{"reason": "another"}
	wantProblem(t, h.do(other), 409, fault.IdempotencyConflict)
	bal := h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if p := bal["prepaid"].(map[string]any); p["principal"] != "50000.00" || p["rebate"] != "2500.00" {
		t.Errorf("balances after the reversals %v, want the deposit's 50000.00 and 2500.00", p)
	}
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation %v", rec)
	}
}
