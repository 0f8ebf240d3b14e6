package api

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// Business dated further back than the rule set's back-dating window (60
// days by default) is refused with occurred_at_too_old, naming the field,
// and records nothing; in a batch only that event fails.
func TestBusinessDatedBeforeTheBackdatingWindowIsRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d-0", "customer_id": "C1", "amount": "100"}})
	old := time.Now().Add(-61 * 24 * time.Hour).Format(time.RFC3339)
	before := h.rowCount()
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/events", map[string]any{"event_id": "e-old", "type": "shipment.completed", "customer_id": "C1", "shipment_id": "S1",
			"amount": "100", "occurred_at": old}},
		{"/v1/deposits", map[string]any{"deposit_id": "d-old", "customer_id": "C1", "amount": "10", "occurred_at": old}},
		{"/v1/charges", map[string]any{"charge_id": "c-old", "customer_id": "C1", "amount": "10", "shipment_id": "S1", "occurred_at": old}},
		{"/v1/withdrawals", map[string]any{"withdrawal_id": "w-old", "customer_id": "C1", "amount": "10", "occurred_at": old}},
	} {
		p := wantProblem(t, h.do(call{method: "POST", path: c.path, key: "partner", body: c.body}), 422, fault.OccurredAtTooOld)
		if errs, _ := p["errors"].(map[string]any); errs["occurred_at"] == nil {
			t.Errorf("%s: errors %v, want occurred_at named", c.path, p["errors"])
		}
	}
	// A manual entry's effective_at is held to the same window.
	entry := adjustment("5", "C1")
	entry["effective_at"] = old
	p := wantProblem(t, h.do(call{method: "POST", path: "/v1/entries", key: "admin", body: entry,
		header: map[string]string{"Idempotency-Key": "old-entry"}}), 422, fault.OccurredAtTooOld)
	if errs, _ := p["errors"].(map[string]any); errs["effective_at"] == nil {
		t.Errorf("entry: errors %v, want effective_at named", p["errors"])
	}
	if after := h.rowCount(); after != before {
		t.Errorf("refused business wrote %d rows", after-before)
	}
	entry["effective_at"] = time.Now().Add(-59 * 24 * time.Hour).Format(time.RFC3339)
	h.expect(201, call{method: "POST", path: "/v1/entries", key: "admin", body: entry,
		header: map[string]string{"Idempotency-Key": "recent-entry"}})

	res := h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", body: map[string]any{"events": []any{
		shipment("b1", "C1", "S1", "100", time.Now().Add(-time.Minute)),
		shipment("b2", "C1", "S2", "100", time.Now().Add(-61*24*time.Hour)),
		shipment("b3", "C1", "S3", "100", time.Now().Add(-59*24*time.Hour)),
	}}})
	var out batchAnswer
	res.json(t, &out)
	want := []struct {
		status int
		code   fault.Code
	}{{201, ""}, {422, fault.OccurredAtTooOld}, {201, ""}}
	if len(out.Results) != len(want) {
		t.Fatalf("%d results, want %d: %s", len(out.Results), len(want), res.body)
	}
	for i, w := range want {
		r := out.Results[i]
		if r.Status != w.status || (w.code != "" && r.Problem["code"] != string(w.code)) {
			t.Errorf("event %d: %+v, want %d %q", i, r, w.status, w.code)
		}
	}
}

// A rule set states its back-dating window: 60 days when the document
// leaves it out, refused outside 1 to 366 days.
func TestRuleSetBackdatingWindow(t *testing.T) {
	h := newHarness(t)
	doc := h.expect(200, call{method: "GET", path: "/v1/rules", key: "admin"}).object(t)
	if doc["backdating_days"] != float64(60) {
		t.Errorf("version 1 backdating_days %v, want 60", doc["backdating_days"])
	}
	delete(doc, "version")
	delete(doc, "backdating_days")
	doc["effective_from"] = time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	put := h.expect(201, call{method: "PUT", path: "/v1/rules", key: "admin", body: doc}).object(t)
	if put["backdating_days"] != float64(60) {
		t.Errorf("a version without backdating_days has %v, want 60", put["backdating_days"])
	}
	for _, days := range []int{0, 367} {
		doc["backdating_days"] = days
		doc["effective_from"] = time.Now().Add(48 * time.Hour).Format(time.RFC3339)
		bad := wantProblem(t, h.do(call{method: "PUT", path: "/v1/rules", key: "admin", body: doc, invalid: true}), 422, fault.InvalidRules)
		if errs, _ := bad["errors"].(map[string]any); errs["backdating_days"] == nil {
			t.Errorf("backdating_days %d: errors %v, want backdating_days", days, bad["errors"])
		}
	}
	doc["backdating_days"] = 366
	if put := h.expect(201, call{method: "PUT", path: "/v1/rules", key: "admin", body: doc}).object(t); put["backdating_days"] != float64(366) {
		t.Errorf("backdating_days %v, want 366", put["backdating_days"])
	}
}
