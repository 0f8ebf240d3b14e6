package api

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// racing sends the same call from n goroutines at once and returns every
// answer.
func (h *harness) racing(n int, c call) []response {
	h.t.Helper()
	calls := make([]call, n)
	for i := range calls {
		calls[i] = c
	}
	return h.racingAll(calls)
}

// racingAll sends every call from a goroutine of its own, all at once, and
// returns the answers in the calls' order.
func (h *harness) racingAll(calls []call) []response {
	h.t.Helper()
	out := make([]response, len(calls))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			<-start
			out[i] = h.do(c)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// wantOneEffect checks racing answers: every one is status, exactly one is
// not marked as a replay, and every body is byte-equal to the first
// answer's; it returns that answer.
func wantOneEffect(t *testing.T, answers []response, status int) response {
	t.Helper()
	var first *response
	for i, a := range answers {
		if a.status != status {
			t.Fatalf("answer %d: status %d, want %d: %s", i, a.status, status, a.body)
		}
		switch a.header.Get("Idempotent-Replayed") {
		case "true":
		case "":
			if first != nil {
				t.Fatalf("two answers are not replays: %s and %s", first.body, a.body)
			}
			first = &answers[i]
		default:
			t.Fatalf("Idempotent-Replayed: %q", a.header.Get("Idempotent-Replayed"))
		}
	}
	if first == nil {
		t.Fatal("every answer is a replay: none did the work")
	}
	for i, a := range answers {
		if string(a.body) != string(first.body) {
			t.Errorf("answer %d differs from the original:\n%s\n%s", i, a.body, first.body)
		}
	}
	return *first
}

func (h *harness) countWhere(q string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestRetriedEntryReversalReplays: a reversal retried with its
// Idempotency-Key and body, even racing its original, answers the original
// reversal marked Idempotent-Replayed and posts it once; another request on
// the reversed entry is still already_reversed, and the key with another
// body is idempotency_conflict.
func TestRetriedEntryReversalReplays(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	entry := h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: map[string]any{
		"reason": "goodwill", "postings": []map[string]any{
			{"account": "customer:C1:points", "amount": "120"},
			{"account": "platform:points:earned:adjustment", "amount": "-120"}}}}).object(t)
	path := fmt.Sprintf("/v1/entries/%v/reversal", entry["id"])
	retry := call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "wrong customer"},
		header: map[string]string{"Idempotency-Key": "rev-1"}}

	first := wantOneEffect(t, h.racing(8, retry), 201)
	if got := first.object(t)["reversal_of"]; got != entry["id"] {
		t.Errorf("reversal_of %v, want %v", got, entry["id"])
	}
	if n := h.countWhere(`SELECT count(*) FROM entries WHERE reversal_of = $1`, entry["id"]); n != 1 {
		t.Errorf("%d reversals of the entry, want 1", n)
	}
	later := h.do(retry)
	wantStatus(t, later, 201)
	if later.header.Get("Idempotent-Replayed") != "true" || string(later.body) != string(first.body) {
		t.Errorf("a later retry answers %q %s, want the original marked as a replay", later.header.Get("Idempotent-Replayed"), later.body)
	}

	wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "wrong customer"},
		header: map[string]string{"Idempotency-Key": "rev-2"}}), 409, fault.AlreadyReversed)
	wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "wrong customer"}}),
		409, fault.AlreadyReversed)
	wantProblem(t, h.do(call{method: "POST", path: path, key: "admin", body: map[string]any{"reason": "another reason"},
		header: map[string]string{"Idempotency-Key": "rev-1"}}), 409, fault.IdempotencyConflict)
	if n := h.countWhere(`SELECT count(*) FROM entries WHERE reversal_of = $1`, entry["id"]); n != 1 {
		t.Errorf("%d reversals of the entry after the refusals, want 1", n)
	}
}

// TestRetriedCancellationReplays: a cancellation retried with its
// Idempotency-Key and body, even racing its original, answers the original
// cancellation marked Idempotent-Replayed, returns the points and the stock
// once; another request on the cancelled redemption is still
// already_cancelled, and the key with another body is idempotency_conflict.
func TestRetriedCancellationReplays(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "500", time.Now().Add(-time.Hour))})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "mug", "name": "Mug",
		"kind": "featured", "points_price": "100", "valid_from": time.Now().Add(-time.Hour).Format(time.RFC3339),
		"valid_until": time.Now().Add(time.Hour).Format(time.RFC3339), "stock": 5}})
	h.expect(201, call{method: "POST", path: "/v1/redemptions", key: "customer",
		body: map[string]any{"redemption_id": "red-1", "customer_id": "C1", "sku": "mug", "quantity": 2}})
	retry := call{method: "POST", path: "/v1/redemptions/red-1/cancel", key: "customer", body: map[string]any{"reason": "changed my mind"},
		header: map[string]string{"Idempotency-Key": "cancel-1"}}

	first := wantOneEffect(t, h.racing(8, retry), 200)
	if r := first.object(t); r["status"] != "cancelled" {
		t.Errorf("cancellation %s", first.body)
	}
	if n := h.countWhere(`SELECT count(*) FROM entries WHERE kind = 'redemption.cancelled'`); n != 1 {
		t.Errorf("%d cancellation entries, want 1", n)
	}
	// 500 earned, 200 redeemed and returned once; the stock back to 5.
	bal := h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if pts := bal["points"].(map[string]any); pts["balance"] != "500" {
		t.Errorf("points after the cancellation %v, want 500", pts)
	}
	if n := h.countWhere(`SELECT stock FROM products WHERE sku = 'mug'`); n != 5 {
		t.Errorf("stock %d after the cancellation, want 5", n)
	}
	later := h.do(retry)
	wantStatus(t, later, 200)
	if later.header.Get("Idempotent-Replayed") != "true" || string(later.body) != string(first.body) {
		t.Errorf("a later retry answers %q %s, want the original marked as a replay", later.header.Get("Idempotent-Replayed"), later.body)
	}

	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/red-1/cancel", key: "admin", body: map[string]any{"reason": "changed my mind"},
		header: map[string]string{"Idempotency-Key": "cancel-2"}}), 409, fault.AlreadyCancelled)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/red-1/cancel", key: "customer", body: map[string]any{"reason": "changed my mind"}}),
		409, fault.AlreadyCancelled)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/red-1/cancel", key: "customer", body: map[string]any{"reason": "other"},
		header: map[string]string{"Idempotency-Key": "cancel-1"}}), 409, fault.IdempotencyConflict)
	if n := h.countWhere(`SELECT count(*) FROM entries WHERE kind = 'redemption.cancelled'`); n != 1 {
		t.Errorf("%d cancellation entries after the refusals, want 1", n)
	}
}

// TestRetriedMoneyReversalReplays: a deposit's reversal retried with its
// Idempotency-Key and body, even racing its original, answers the original
// reversal marked Idempotent-Replayed and reverses the money once; another
// request on the reversed deposit is still already_reversed, and the key
// with another body is idempotency_conflict.
func TestRetriedMoneyReversalReplays(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "5000"}})
	retry := call{method: "POST", path: "/v1/deposits/d1/reversal", key: "admin", body: map[string]any{"reason": "bounced"},
		header: map[string]string{"Idempotency-Key": "rev-d1"}}

	first := wantOneEffect(t, h.racing(8, retry), 201)
	if m := first.object(t); m["reversal_entry_id"] == nil {
		t.Errorf("reversal %s names no reversal entry", first.body)
	}
	if n := h.countWhere(`SELECT count(*) FROM entries WHERE reversal_of IS NOT NULL`); n != 1 {
		t.Errorf("%d reversal entries, want 1", n)
	}
	// 5,000 deposited with 150.00 rebate, all of it taken back once.
	bal := h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if pre := bal["prepaid"].(map[string]any); pre["principal"] != "0.00" || pre["rebate"] != "0.00" {
		t.Errorf("prepaid after the reversal %v, want principal and rebate 0.00", pre)
	}
	later := h.do(retry)
	wantStatus(t, later, 201)
	if later.header.Get("Idempotent-Replayed") != "true" || string(later.body) != string(first.body) {
		t.Errorf("a later retry answers %q %s, want the original marked as a replay", later.header.Get("Idempotent-Replayed"), later.body)
	}

	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d1/reversal", key: "admin", body: map[string]any{"reason": "bounced"},
		header: map[string]string{"Idempotency-Key": "rev-d1-again"}}), 409, fault.AlreadyReversed)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d1/reversal", key: "admin", body: map[string]any{"reason": "bounced"}}),
		409, fault.AlreadyReversed)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d1/reversal", key: "admin", body: map[string]any{"reason": "other"},
		header: map[string]string{"Idempotency-Key": "rev-d1"}}), 409, fault.IdempotencyConflict)
	if n := h.countWhere(`SELECT count(*) FROM entries WHERE reversal_of IS NOT NULL`); n != 1 {
		t.Errorf("%d reversal entries after the refusals, want 1", n)
	}
}
