package api

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// An admin reverses partner 1's deposit "same" (?space=A) with key K, then
// sends the same key, path and body naming partner 2's space (?space=B):
// another request (another movement), 409 idempotency_conflict, and partner
// 2's deposit stays as it was (the request's hash covers its method, path
// and body, not the query: the movement the key reversed must be the one
// named).
func TestMovementReversalKeyReusedInAnotherSpaceConflicts(t *testing.T) {
	h := newHarness(t)
	h.addKey("partner2", "")
	for partner, c := range map[string]string{"partner": "C1", "partner2": "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: partner, body: map[string]any{"id": c, "name": "Shop"}})
		h.expect(201, call{method: "POST", path: "/v1/deposits", key: partner,
			body: map[string]any{"deposit_id": "same", "customer_id": c, "amount": "100"}})
	}
	one, err := h.ledger.Authenticate(context.Background(), h.keys["partner"])
	if err != nil {
		t.Fatal(err)
	}
	two, err := h.ledger.Authenticate(context.Background(), h.keys["partner2"])
	if err != nil {
		t.Fatal(err)
	}
	rev := func(space string) call {
		return call{method: "POST", path: "/v1/deposits/same/reversal?space=" + space, key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": "K"}}
	}
	h.expect(201, rev(one.Space()))
	r := h.do(rev(two.Space()))
	p := r.object(t)
	if r.status != 409 || p["code"] != string(fault.IdempotencyConflict) {
		t.Errorf("key K reused for partner 2's deposit (space %s): %d %v (space %v, customer %v), want 409 idempotency_conflict",
			two.Space(), r.status, p["code"], p["space"], p["customer_id"])
	}
	var reversed *int64
	if err := h.pool.QueryRow(context.Background(), `SELECT reversal_entry_id FROM money_movements WHERE space = $1 AND id = 'same'`,
		two.Space()).Scan(&reversed); err != nil {
		t.Fatal(err)
	}
	if reversed != nil {
		t.Errorf("partner 2's deposit was reversed by entry %d", *reversed)
	}
}
