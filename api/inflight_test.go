package api

import (
	"context"
	"sync"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// A customer key with 8 requests in flight is answered 429
// too_many_requests (Retry-After: 1) on every operation it may call,
// reading and writing nothing; another customer's key, and a partner's, go
// on meanwhile; a request answered lets the next one in.
func TestACustomerKeyHasAtMostEightRequestsInFlight(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C2", "name": "C2"}})
	var id int64
	if err := h.pool.QueryRow(context.Background(), `SELECT id FROM api_keys WHERE customer_id = 'C1'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	// The test holds the key's 8 places, as 8 slow requests would.
	for range customerInFlight {
		if !h.server.inFlight.Take(id) {
			t.Fatal("a place refused before the bound")
		}
	}
	redeem := map[string]any{"redemption_id": "r-busy", "customer_id": "C1", "sku": "mug", "quantity": 1}
	for _, c := range []call{
		{method: "GET", path: "/v1/accounts/customer:C1:points"},
		{method: "GET", path: "/v1/accounts/customer:C1:points/balance"},
		{method: "GET", path: "/v1/accounts/customer:C1:points/postings"},
		{method: "GET", path: "/v1/customers/C1"},
		{method: "GET", path: "/v1/customers/C1/balances"},
		{method: "GET", path: "/v1/customers/C1/statement"},
		{method: "GET", path: "/v1/customers/C1/points/expiring"},
		{method: "GET", path: "/v1/customers/C1/catalog"},
		{method: "GET", path: "/v1/customers/C1/redemptions"},
		{method: "POST", path: "/v1/redemptions", body: redeem},
		{method: "POST", path: "/v1/redemptions/r-busy/cancel", body: map[string]any{"reason": "no"}},
	} {
		c.key = "customer"
		r := h.do(c)
		wantProblem(t, r, 429, fault.TooManyRequests)
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Errorf("%s %s: Retry-After %q, want 1", c.method, c.path, got)
		}
	}
	h.expect(200, call{method: "GET", path: "/v1/customers/C2/balances", key: "other"})
	h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "finance"})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "10.00"}})

	// The refused redemption wrote nothing: made once a place is free, it
	// is new (an unknown product), not a replay of anything.
	h.server.inFlight.Give(id)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions", key: "customer", body: redeem}), 422, fault.UnknownProduct)
	h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"})
	for range customerInFlight - 1 {
		h.server.inFlight.Give(id)
	}
}

// Every request of a customer key gives its place back, answered or
// refused: many goroutines at once get only 200 or 429, and once they are
// done no place is held.
func TestACustomerKeysPlacesAreAllGivenBack(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				r := h.do(call{method: "GET", path: "/v1/customers/C1/statement", key: "customer"})
				mu.Lock()
				statuses[r.status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if statuses[200] == 0 || statuses[200]+statuses[429] != 320 {
		t.Errorf("answers by status %v, want 320 of 200 or 429, some 200", statuses)
	}
	if held := h.server.inFlight.Held(); held != 0 {
		t.Errorf("%d keys hold places after every request was answered", held)
	}
	t.Logf("answers by status: %v", statuses)
}
