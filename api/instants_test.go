package api

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// An instant outside the years 1970 to 2999 (UTC) is refused wherever one
// is taken in: 422 invalid naming the field, nothing written. Such an
// instant, once stored, could not be written back: a rule version dated in
// the year 10000 (9999-12-31T23:59:59-23:59) made every priced request
// answer 500 for good, and a product or campaign dated so broke its list.
// The lists are read afterwards to show that nothing was kept.
func TestInstantsOutsideTheYearsAreRefused(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C1", "name": "C"}})
	h.expect(201, call{method: "POST", path: "/v1/webhooks", key: "admin",
		body: map[string]any{"url": "https://hooks.example.com/in", "types": []any{"points.earned"}}})
	rules := h.expect(200, call{method: "GET", path: "/v1/rules", key: "admin"}).object(t)
	delete(rules, "version")
	now := time.Now().UTC()
	soon, past := now.Add(time.Hour).Format(time.RFC3339), now.Add(-time.Hour).Format(time.RFC3339)
	before := h.rowCount()

	type route struct {
		method, path, key, field string
		body                     map[string]any
		optional                 bool // the field may be left out
	}
	routes := []route{
		{"PUT", "/v1/rules", "admin", "effective_from", rules, false},
		{"POST", "/v1/products", "admin", "valid_until", map[string]any{"sku": "f1", "name": "F", "kind": "featured",
			"points_price": "10", "stock": 5, "valid_from": past, "valid_until": soon}, true},
		{"POST", "/v1/products", "admin", "valid_from", map[string]any{"sku": "f2", "name": "F", "kind": "featured",
			"points_price": "10", "stock": 5, "valid_from": past, "valid_until": soon}, true},
		{"POST", "/v1/campaigns", "admin", "starts_at", map[string]any{"id": "c1", "name": "c", "starts_at": past,
			"ends_at": soon, "multiplier": "2"}, false},
		{"POST", "/v1/campaigns", "admin", "ends_at", map[string]any{"id": "c2", "name": "c", "starts_at": past,
			"ends_at": soon, "multiplier": "2"}, false},
		{"POST", "/v1/entries", "admin", "effective_at", map[string]any{"reason": "r", "effective_at": past,
			"postings": adjustment("1", "C1")["postings"]}, true},
		{"POST", "/v1/deposits", "partner", "occurred_at", map[string]any{"deposit_id": "d1", "customer_id": "C1",
			"amount": "100", "occurred_at": past}, true},
		{"POST", "/v1/events", "partner", "occurred_at", shipment("e1", "C1", "S1", "100", now.Add(-time.Hour)), false},
		{"POST", "/v1/webhooks/1/redeliver", "admin", "from", map[string]any{"from": past, "to": soon}, true},
	}
	outside := []string{
		"9999-12-31T23:59:59-23:59", // the year 10000 in UTC
		"0000-01-01T00:00:00+01:00", // 1 BC in UTC
		"3000-01-01T00:00:00Z",
		"1969-12-31T23:59:59Z",
	}
	for _, r := range routes {
		sent := outside
		if r.optional {
			// An optional instant sent is refused even when it is Go's
			// zero time, which a required one's handler takes as absent.
			sent = append(slices.Clone(outside), "0001-01-01T00:00:00Z")
		}
		for _, at := range sent {
			body := maps.Clone(r.body)
			body[r.field] = at
			res := h.do(call{method: r.method, path: r.path, key: r.key, body: body, invalid: true})
			p := wantProblem(t, res, 422, fault.Invalid)
			if errs, _ := p["errors"].(map[string]any); errs[r.field] == nil {
				t.Errorf("%s %s with %s %s: the problem names %v, want %s", r.method, r.path, r.field, at,
					slices.Collect(maps.Keys(errs)), r.field)
			}
		}
	}
	// A batch refuses the event alone.
	for _, at := range outside {
		ev := shipment("b1", "C1", "S2", "100", now)
		ev["occurred_at"] = at
		res := h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", body: map[string]any{"events": []any{ev}}, invalid: true})
		var out batchAnswer
		res.json(t, &out)
		if len(out.Results) != 1 || out.Results[0].Status != 422 || out.Results[0].Problem["code"] != "invalid" {
			t.Errorf("a batch's event at %s: %s", at, res.body)
		}
	}
	// Query parameters too.
	for _, path := range []string{"/v1/reports/trial-balance?as_of=", "/v1/reports/rebates?to=" + soon + "&from="} {
		for _, at := range outside {
			res := h.do(call{method: "GET", path: path + strings.ReplaceAll(at, "+", "%2B"), key: "finance", invalid: true})
			wantProblem(t, res, 422, fault.Invalid)
		}
	}
	if after := h.rowCount(); after != before {
		t.Errorf("%d rows written by refused requests", after-before)
	}
	for _, path := range []string{"/v1/rules/versions", "/v1/products", "/v1/campaigns", "/v1/rules"} {
		h.expect(200, call{method: "GET", path: path, key: "admin"})
	}
}

// A version of the rules starts at most a year ahead (366 days): every
// later version must start after it and none can be withdrawn, so one dated
// years ahead by a slip would hold every change back until then.
func TestARuleVersionStartsAtMostAYearAhead(t *testing.T) {
	h := newHarness(t)
	doc := h.expect(200, call{method: "GET", path: "/v1/rules", key: "admin"}).object(t)
	delete(doc, "version")
	doc["effective_from"] = time.Now().AddDate(0, 0, 367).UTC().Format(time.RFC3339)
	p := wantProblem(t, h.do(call{method: "PUT", path: "/v1/rules", key: "admin", body: doc}), 422, fault.Invalid)
	if errs, _ := p["errors"].(map[string]any); errs["effective_from"] == nil {
		t.Errorf("a version 367 days ahead: %v, want effective_from named", p)
	}
	doc["effective_from"] = time.Now().AddDate(0, 0, 365).UTC().Format(time.RFC3339)
	h.expect(201, call{method: "PUT", path: "/v1/rules", key: "admin", body: doc})
}
