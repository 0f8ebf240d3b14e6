package api

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestAWebhookCreateWithAnIdempotencyKeySubscribesOnce: a partner's retry of
// a create whose answer it lost answers the endpoint the first made (its
// id and secret, Idempotent-Replayed: true), so the URL is not subscribed
// twice and no notice is sent to it twice; eight retries racing each other
// make one endpoint; the key with another body is 409 and writes nothing;
// another space's same key is its own; a key goes with its deleted
// endpoint, and a create without a key subscribes anew each time.
func TestAWebhookCreateWithAnIdempotencyKeySubscribesOnce(t *testing.T) {
	h := newHarness(t)
	body := map[string]any{"url": "https://hooks.example.com/once", "types": []string{"points.earned"}}
	create := func(key, idem string, body map[string]any) response {
		t.Helper()
		return h.do(call{method: "POST", path: "/v1/webhooks", key: key, body: body, header: map[string]string{"Idempotency-Key": idem}})
	}
	endpoints := func() int {
		t.Helper()
		var n int
		if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_endpoints`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := create("partner", "wh-1", body)
	wantStatus(t, first, http.StatusCreated)
	retry := create("partner", "wh-1", body)
	wantStatus(t, retry, http.StatusCreated)
	a, b := first.object(t), retry.object(t)
	if first.header.Get("Idempotent-Replayed") != "" || retry.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("Idempotent-Replayed: first %q, retry %q; want none, then true",
			first.header.Get("Idempotent-Replayed"), retry.header.Get("Idempotent-Replayed"))
	}
	if a["id"] != b["id"] || a["secret"] != b["secret"] || a["secret"] == nil {
		t.Errorf("the retry answered %v, the first %v: want the same endpoint and secret", b, a)
	}
	if n := endpoints(); n != 1 {
		t.Fatalf("%d endpoints after a create and its retry, want 1", n)
	}

	other := map[string]any{"url": "https://hooks.example.com/other", "types": []string{"points.earned"}}
	wantProblem(t, create("partner", "wh-1", other), http.StatusConflict, fault.IdempotencyConflict)
	if n := endpoints(); n != 1 {
		t.Errorf("%d endpoints after the key reused with another body, want 1", n)
	}
	mine := create("admin", "wh-1", body) // another space's key of the same name
	wantStatus(t, mine, http.StatusCreated)
	if mine.header.Get("Idempotent-Replayed") != "" || mine.object(t)["id"] == a["id"] {
		t.Errorf("an admin's create with the partner's key name answered the partner's endpoint: %s", mine.body)
	}

	for _, who := range []string{"admin", "partner"} {
		idem := "race-" + who
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Go(func() {
				r := create(who, idem, map[string]any{"url": "https://hooks.example.com/race-" + who, "types": []string{"points.earned"}})
				if r.status == http.StatusCreated {
					var e struct {
						ID int64 `json:"id"`
					}
					r.json(t, &e)
					ids[i] = fmt.Sprint(e.ID)
				} else {
					ids[i] = fmt.Sprintf("%d %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Errorf("%s: eight creates racing with one key answered %v, want one endpoint", who, ids)
				break
			}
		}
		var n int
		if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_endpoints WHERE url = $1`,
			"https://hooks.example.com/race-"+who).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d endpoints made by eight racing creates with one key (%v), want 1", who, n, err)
		}
	}

	h.expect(http.StatusNoContent, call{method: "DELETE", path: fmt.Sprintf("/v1/webhooks/%v", a["id"]), key: "partner"})
	again := create("partner", "wh-1", body)
	wantStatus(t, again, http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "" || again.object(t)["id"] == a["id"] {
		t.Errorf("the key of a deleted endpoint: %s, want a new endpoint", again.body)
	}
	before := endpoints()
	for range 2 {
		h.expect(http.StatusCreated, call{method: "POST", path: "/v1/webhooks", key: "admin", body: body})
	}
	if n := endpoints(); n != before+2 {
		t.Errorf("two creates without a key made %d endpoints, want 2", n-before)
	}
}
