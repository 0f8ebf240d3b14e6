package api

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/notify/webhook"
)

// TestAWebhookCreateRetryRacingItsOriginalAtTheEndpointLimitReplays: a
// partner one endpoint below webhook.MaxEndpoints creates its last one
// with an Idempotency-Key, and its retries race the original (all past
// their first look for the key before any inserts): every one answers the
// endpoint the key made, none 422 limit_reached for a create that was
// made. (Found by review: the retries counted the original's endpoint.)
func TestAWebhookCreateRetryRacingItsOriginalAtTheEndpointLimitReplays(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	for i := range webhook.MaxEndpoints - 1 {
		h.expect(http.StatusCreated, call{method: "POST", path: "/v1/webhooks", key: "partner",
			body: map[string]any{"url": fmt.Sprintf("https://hooks.example.com/fill-%d", i), "types": []string{"points.earned"}}})
	}
	// The partners' rows held: the original and its retries all look for
	// the key before any inserts (a slow original).
	hold, err := h.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `SELECT FROM partners FOR NO KEY UPDATE`); err != nil {
		t.Fatal(err)
	}
	const n = 4
	answers := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			answers[i] = h.do(call{method: "POST", path: "/v1/webhooks", key: "partner",
				header: map[string]string{"Idempotency-Key": "last-one"},
				body:   map[string]any{"url": "https://hooks.example.com/last", "types": []string{"points.earned"}}})
		})
	}
	testdb.WaitForLockWaiters(t, h.pool, n)
	if err := hold.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var ids []any
	for _, r := range answers {
		if r.status != http.StatusCreated {
			t.Errorf("a create racing its retries with one Idempotency-Key: %d %s; want 201 (the endpoint the key made)", r.status, r.body)
			continue
		}
		ids = append(ids, r.object(t)["id"])
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("the racing creates answered endpoints %v, want one", ids)
			break
		}
	}
}
