package api

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// A money movement's reversal with an Idempotency-Key already used for
// another movement's reversal is 409 idempotency_conflict naming the entry
// that holds the key, before any refusal of the movement asked for
// (rebate_drawn_since, insufficient_funds: the key was never about it), as
// a hand reversal's is (TestKeyReusedForAnotherEntryIsAConflictFirst).
func TestMovementReversalKeyReusedIsAConflictFirst(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "One"}})
	wantStatus(t, h.money("deposit", map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "50000"}), 201)
	for i, a := range []string{"50000", "1000", "500"} {
		wantStatus(t, h.money("charge", map[string]any{"charge_id": fmt.Sprintf("c%d", i+1), "customer_id": "C1", "amount": a,
			"shipment_id": fmt.Sprintf("S%d", i+1)}), 201)
	}
	wantStatus(t, h.money("deposit", map[string]any{"deposit_id": "dz", "customer_id": "C1", "amount": "10"}), 201)
	rev := func(kind, id, key string) call {
		return call{method: "POST", path: fmt.Sprintf("/v1/%ss/%s/reversal", kind, id), key: "admin",
			body: map[string]any{"reason": "mistake"}, header: map[string]string{"Idempotency-Key": key}}
	}
	first := h.expect(201, rev("charge", "c3", "K")).object(t)
	h.expect(201, rev("deposit", "dz", "K2"))

	var bad []string
	for _, c := range []struct{ kind, id, key string }{{"charge", "c1", "K"}, {"deposit", "d1", "K2"}, {"charge", "c2", "K"}} {
		r := h.do(rev(c.kind, c.id, c.key))
		p := r.object(t)
		t.Logf("%s %s with key %s: %d %v", c.kind, c.id, c.key, r.status, p)
		if r.status != 409 || p["code"] != string(fault.IdempotencyConflict) {
			bad = append(bad, fmt.Sprintf("%s %s: %d %v", c.kind, c.id, r.status, p["code"]))
		} else if c.key == "K" && !strings.Contains(fmt.Sprint(p), fmt.Sprintf("entry %v", first["reversal_entry_id"])) {
			bad = append(bad, fmt.Sprintf("%s %s: the conflict names no entry: %v", c.kind, c.id, p["detail"]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("a key used for another movement's reversal, want 409 idempotency_conflict naming its entry first:\n%s",
			strings.Join(bad, "\n"))
	}
}
