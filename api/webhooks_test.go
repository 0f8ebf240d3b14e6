package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/webhook"
)

// webhookServer is a harness whose webhook service the test can also run
// the dispatcher of, as tally serve does.
func webhookServer(t *testing.T) (*harness, *webhook.Service) {
	t.Helper()
	h := newHarness(t)
	cfg := wired(h.pool, h.ledger)
	cfg.OpenAPI = tally.OpenAPI
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, ledger: h.ledger, pool: h.pool, keys: h.keys}, cfg.Webhooks
}

// hookReceiver records what it is sent and answers 200.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []http.Header
	body [][]byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got, r.body = append(r.got, req.Header.Clone()), append(r.body, b)
		r.mu.Unlock()
		_, _ = io.WriteString(w, "thanks")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestWebhookEndpointsAreManagedByTheirOwners walks the webhook API: an
// admin and a partner subscribe, each sees what it may (a partner only its
// own, another's is 404), the secret is shown at creation and rotation
// only, a notification is redelivered and delivered, signed so the
// Standard Webhooks library verifies it with the secret shown, and its
// attempt is in the endpoint's log; refusals carry their codes.
func TestWebhookEndpointsAreManagedByTheirOwners(t *testing.T) {
	h, hooks := webhookServer(t)
	r := newHookReceiver(t)
	types := []string{notify.PointsEarned, notify.TierChanged}
	create := func(key string, body map[string]any) map[string]any {
		t.Helper()
		return h.expect(201, call{method: "POST", path: "/v1/webhooks", key: key, body: body}).object(t)
	}
	mine := create("admin", map[string]any{"url": r.srv.URL + "/in", "types": types, "description": "app"})
	theirs := create("partner", map[string]any{"url": "https://hooks.example.com/p", "types": []string{notify.PointsEarned}})
	if s, _ := mine["secret"].(string); !strings.HasPrefix(s, "whsec_") || mine["partner_id"] != nil {
		t.Fatalf("admin's endpoint: %v", mine)
	}
	if theirs["partner_id"] == nil {
		t.Fatalf("partner's endpoint has no partner_id: %v", theirs)
	}
	mineID, theirsID := "/v1/webhooks/"+itoa(int64(mine["id"].(float64))), "/v1/webhooks/"+itoa(int64(theirs["id"].(float64)))

	// Who sees what.
	if got := h.expect(200, call{method: "GET", path: mineID, key: "admin"}).object(t); got["secret"] != nil || got["circuit"] != "closed" {
		t.Errorf("GET shows %v, want no secret and a closed circuit", got)
	}
	wantProblem(t, h.do(call{method: "GET", path: mineID, key: "partner"}), 404, fault.NotFound)
	wantProblem(t, h.do(call{method: "PATCH", path: mineID, key: "partner", body: map[string]any{"description": "x"}}), 404, fault.NotFound)
	wantProblem(t, h.do(call{method: "DELETE", path: mineID, key: "partner"}), 404, fault.NotFound)
	h.expect(200, call{method: "GET", path: theirsID, key: "admin"})
	var page struct {
		Endpoints  []webhook.Endpoint `json:"endpoints"`
		NextCursor *string            `json:"next_cursor"`
	}
	h.expect(200, call{method: "GET", path: "/v1/webhooks", key: "partner"}).json(t, &page)
	if len(page.Endpoints) != 1 || page.Endpoints[0].URL != "https://hooks.example.com/p" || page.NextCursor != nil {
		t.Errorf("the partner lists %+v, want its one endpoint", page)
	}
	h.expect(200, call{method: "GET", path: "/v1/webhooks?limit=1", key: "admin"}).json(t, &page)
	if len(page.Endpoints) != 1 || page.NextCursor == nil {
		t.Fatalf("admin's first page of 1: %+v", page)
	}
	h.expect(200, call{method: "GET", path: "/v1/webhooks?limit=1&cursor=" + *page.NextCursor, key: "admin"}).json(t, &page)
	if len(page.Endpoints) != 1 || page.Endpoints[0].URL != "https://hooks.example.com/p" {
		t.Fatalf("admin's second page: %+v", page)
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/webhooks?limit=0", key: "admin", invalid: true}), 422, fault.Invalid)

	// Refusals.
	for _, c := range []struct {
		key  string
		body map[string]any
		code fault.Code
		want int
	}{
		{"admin", map[string]any{"url": "https://evil.example.org/", "types": types}, fault.HostNotAllowed, 422},
		{"partner", map[string]any{"url": "https://hooks.example.com/", "types": []string{"points.stolen"}}, fault.Invalid, 422},
		{"admin", map[string]any{"url": "gopher://hooks.example.com/", "types": types}, fault.Invalid, 422},
		{"admin", map[string]any{"url": "https://hooks.example.com/", "types": types, "partner_id": 987654}, fault.Invalid, 422},
		{"partner", map[string]any{"url": "https://hooks.example.com/", "types": types, "partner_id": 987654}, fault.Forbidden, 403},
	} {
		wantProblem(t, h.do(call{method: "POST", path: "/v1/webhooks", key: c.key, body: c.body, invalid: true}), c.want, c.code)
	}
	wantProblem(t, h.do(call{method: "PATCH", path: theirsID, key: "partner", body: map[string]any{"url": "https://127.0.0.2.nip.io/"}, invalid: true}),
		422, fault.HostNotAllowed)
	got := h.expect(200, call{method: "PATCH", path: theirsID, key: "partner", body: map[string]any{"types": []string{notify.PointsExpiring, notify.PointsEarned}}}).object(t)
	if ts, _ := got["types"].([]any); len(ts) != 2 || ts[0] != notify.PointsExpiring || ts[1] != notify.PointsEarned {
		t.Errorf("patched types %v", got["types"])
	}
	wantProblem(t, h.do(call{method: "PATCH", path: "/v1/webhooks/999999", key: "admin", body: map[string]any{"description": "x"}}), 404, fault.NotFound)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/webhooks/abc", key: "admin", invalid: true}), 404, fault.NotFound)

	// Rotation: a new secret, shown once; the old one signs for 24 hours.
	before := time.Now()
	rotated := h.expect(200, call{method: "POST", path: mineID + "/rotate", key: "admin", body: map[string]any{}}).object(t)
	if rotated["secret"] == mine["secret"] || rotated["previous_secret_valid_until"] == nil {
		t.Fatalf("rotated: %v", rotated)
	}
	if until, _ := time.Parse(time.RFC3339Nano, rotated["previous_secret_valid_until"].(string)); until.Before(before.Add(24*time.Hour)) ||
		until.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("previous secret valid until %v, want 24 hours from now", until)
	}
	wantProblem(t, h.do(call{method: "POST", path: mineID + "/rotate", key: "admin", body: map[string]any{"grace_period_seconds": 604801}, invalid: true}),
		422, fault.Invalid)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/webhooks/999999/rotate", key: "admin", body: map[string]any{}}), 404, fault.NotFound)

	// Redelivery of a notification written before the endpoint's feed
	// position, then the dispatcher sends it, signed by both secrets.
	if err := h.ledger.InTx(context.Background(), func(tx *ledger.Tx) error {
		_, err := notify.Emit(context.Background(), tx, notify.Event{Type: notify.PointsEarned, Customer: "C1", Payload: map[string]any{"points": "7"}},
			notify.Event{Type: notify.DepositReceived, Customer: "C1", Payload: map[string]any{"amount": "1.00"}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	feed, _, err := notify.Feed(context.Background(), h.ledger, notify.Cursor{}, 10, notify.Filter{})
	if err != nil || len(feed) != 2 {
		t.Fatalf("feed %v %v", feed, err)
	}
	if _, err := h.pool.Exec(context.Background(), `UPDATE webhook_feed SET cursor = $1`, feed[1].Position.String()); err != nil {
		t.Fatal(err) // as if these were fanned out before the endpoint existed
	}
	queued := h.expect(202, call{method: "POST", path: mineID + "/redeliver", key: "admin", body: map[string]any{"notification_id": feed[0].ID()}}).object(t)
	if queued["queued"] != float64(1) {
		t.Fatalf("redeliver: %v", queued)
	}
	wantProblem(t, h.do(call{method: "POST", path: mineID + "/redeliver", key: "admin", body: map[string]any{"notification_id": feed[1].ID()}}),
		422, fault.UnknownNotification) // deposit.received is not of its types
	wantProblem(t, h.do(call{method: "POST", path: mineID + "/redeliver", key: "admin", body: map[string]any{"notification_id": "ntf_999"}}),
		422, fault.UnknownNotification)
	wantProblem(t, h.do(call{method: "POST", path: mineID + "/redeliver", key: "admin", body: map[string]any{"notification_id": "ntf_1",
		"from": time.Now().Format(time.RFC3339), "to": time.Now().Format(time.RFC3339)}}), 422, fault.Invalid)
	wantProblem(t, h.do(call{method: "POST", path: mineID + "/redeliver", key: "admin", body: map[string]any{
		"from": time.Now().Format(time.RFC3339), "to": time.Now().Add(-time.Hour).Format(time.RFC3339)}}), 422, fault.Invalid)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/webhooks/999999/redeliver", key: "admin", body: map[string]any{"notification_id": "ntf_1"}}),
		404, fault.NotFound)
	rng := h.expect(202, call{method: "POST", path: mineID + "/redeliver", key: "admin", body: map[string]any{
		"from": time.Now().Add(-time.Hour).Format(time.RFC3339), "to": time.Now().Add(time.Minute).Format(time.RFC3339)}}).object(t)
	if rng["queued"] != float64(1) {
		t.Errorf("redeliver the last hour: %v, want the one points.earned", rng)
	}
	if n, err := hooks.Step(context.Background()); err != nil || n != 1 {
		t.Fatalf("dispatcher step: %d, %v", n, err)
	}
	if len(r.got) != 1 || r.got[0].Get("webhook-id") != feed[0].ID() {
		t.Fatalf("receiver got %d requests, want %s", len(r.got), feed[0].ID())
	}
	for _, secret := range []any{mine["secret"], rotated["secret"]} {
		wh, err := standardwebhooks.NewWebhook(secret.(string))
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(r.body[0], r.got[0]); err != nil {
			t.Errorf("signature: %v", err)
		}
	}
	var log struct {
		Attempts   []webhook.Attempt `json:"attempts"`
		NextCursor *string           `json:"next_cursor"`
	}
	h.expect(200, call{method: "GET", path: mineID + "/attempts", key: "admin"}).json(t, &log)
	if len(log.Attempts) != 1 || log.Attempts[0].NotificationID != feed[0].ID() || log.Attempts[0].StatusCode == nil ||
		*log.Attempts[0].StatusCode != 200 || log.Attempts[0].Response != "thanks" || log.Attempts[0].DeliveryStatus != "delivered" {
		t.Errorf("log %+v", log)
	}
	wantProblem(t, h.do(call{method: "GET", path: theirsID + "/attempts", key: "other"}), 403, fault.Forbidden)
	wantProblem(t, h.do(call{method: "GET", path: mineID + "/attempts", key: "partner"}), 404, fault.NotFound)

	// Metrics: the attempt by outcome, and the queue.
	metrics := string(h.expect(200, call{method: "GET", path: "/metrics"}).body)
	for _, want := range []string{`tally_webhook_attempts_total{outcome="delivered"} 1`, "tally_webhook_queue_depth 0",
		"tally_webhook_oldest_pending_age_seconds 0", "tally_webhook_feed_backlog 0", "tally_webhook_open_circuits 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	h.expect(204, call{method: "DELETE", path: theirsID, key: "partner"})
	wantProblem(t, h.do(call{method: "GET", path: theirsID, key: "admin"}), 404, fault.NotFound)
	wantProblem(t, h.do(call{method: "DELETE", path: theirsID, key: "admin"}), 404, fault.NotFound)
}
