package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// lastMonth is an instant in the previous calendar month in Shanghai.
func lastMonth() time.Time {
	sh := shanghaiZone()
	now := time.Now().In(sh)
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, sh).Add(-36 * time.Hour)
}

func shipment(eventID, customer, shipmentID, amount string, at time.Time) map[string]any {
	return map[string]any{"event_id": eventID, "type": "shipment.completed", "customer_id": customer,
		"shipment_id": shipmentID, "amount": amount, "occurred_at": at.Format(time.RFC3339)}
}

// TestLoyaltyWalkthrough is the README's walkthrough: a referrer and a
// referee, a mid-tier customer earning x1.2, the referral bonus pending, a
// partial refund taking back in proportion, and the books reconciling.
func TestLoyaltyWalkthrough(t *testing.T) {
	h := newHarness(t)
	post := func(path string, body any) response {
		t.Helper()
		return h.do(call{method: "POST", path: path, key: "partner", body: body})
	}
	wantStatus(t, post("/v1/customers", map[string]any{"id": "R1", "name": "Referrer"}), 201)
	wantStatus(t, post("/v1/customers", map[string]any{"id": "C1", "name": "Mid-tier shop", "referred_by": "R1"}), 201)
	wantStatus(t, post("/v1/customers", map[string]any{"id": "C1", "name": "Mid-tier shop", "referred_by": "R1"}), 200)

	// Last month's 5,000 makes C1 mid-tier this month.
	e1 := post("/v1/events", shipment("e1", "C1", "S0", "5000", lastMonth()))
	wantStatus(t, e1, 201)
	// C1's first shipment of at least 50 pays R1's referral bonus, once.
	if ref, _ := e1.object(t)["referral"].(map[string]any); ref["status"] != "pending" || ref["points"] != "500" {
		t.Errorf("first shipment's referral %v, want 500 pending for R1", ref)
	}
	now := time.Now().Add(-time.Minute)
	first := post("/v1/events", shipment("e2", "C1", "S1", "123.45", now))
	wantStatus(t, first, 201)
	res := first.object(t)
	earning := res["earning"].(map[string]any)
	if res["tier"].(map[string]any)["segment"] != "mid" || earning["multiplier"] != "1.2" || earning["points"] != "148" {
		t.Errorf("shipment result %s: want mid x1.2 = 148", first.body)
	}
	if res["rule_version"] != float64(1) {
		t.Errorf("rule_version %v, want 1", res["rule_version"])
	}

	// The replay is the same answer, marked; the same id with another body is refused.
	again := post("/v1/events", shipment("e2", "C1", "S1", "123.45", now))
	if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Errorf("replay: %d %q\n%s\n%s", again.status, again.header.Get("Idempotent-Replayed"), again.body, first.body)
	}
	wantProblem(t, post("/v1/events", shipment("e2", "C1", "S1", "123.46", now)), 409, fault.IdempotencyConflict)

	if res["referral"] != nil {
		t.Errorf("a second qualifying shipment paid the referral again: %v", res["referral"])
	}
	r1 := h.expect(200, call{method: "GET", path: "/v1/customers/R1", key: "admin"}).object(t)
	if pts := r1["points"].(map[string]any); pts["balance"] != "500" {
		t.Errorf("R1 points %v, want the one 500 bonus", pts)
	}

	refund := post("/v1/events", map[string]any{"event_id": "e3", "type": "shipment.refunded", "customer_id": "C1",
		"shipment_id": "S1", "amount": "23.45", "occurred_at": now.Add(30 * time.Second).Format(time.RFC3339)})
	wantStatus(t, refund, 201)
	if got := refund.object(t)["refund"].(map[string]any)["points_taken_back"]; got != "28" {
		t.Errorf("refund took back %v, want 28", got)
	}

	prof := h.do(call{method: "GET", path: "/v1/customers/C1", key: "customer"})
	wantStatus(t, prof, 200)
	p := prof.object(t)
	if p["segment"] != "mid" || p["points"].(map[string]any)["balance"] != fmt.Sprint(5000+148-28) {
		t.Errorf("profile %s", prof.body)
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/R1", key: "customer"}), 403, fault.Forbidden)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/C1", key: "partner"}), 403, fault.Forbidden)

	rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t)
	if rec["pass"] != true {
		t.Errorf("reconciliation fails: %v", rec)
	}
}

func TestReferralPendingShowsOnTheReferrer(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "R1", "name": "R"}})
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "E1", "name": "E", "referred_by": "R1"}})
	res := h.do(call{method: "POST", path: "/v1/events", key: "partner", body: shipment("x1", "E1", "S1", "60", time.Now().Add(-time.Minute))})
	wantStatus(t, res, 201)
	ref := res.object(t)["referral"].(map[string]any)
	if ref["status"] != "pending" || ref["points"] != "500" || ref["referrer_id"] != "R1" {
		t.Errorf("referral %v", ref)
	}
	r := h.expect(200, call{method: "GET", path: "/v1/customers/R1", key: "admin"}).object(t)
	if pts := r["points"].(map[string]any); pts["pending"] != "500" || pts["available"] != "0" {
		t.Errorf("referrer points %v, want 500 pending", pts)
	}
}

func TestEventBatch(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	at := time.Now().Add(-time.Minute)
	body := map[string]any{"events": []any{
		shipment("b1", "C1", "S1", "100", at),
		shipment("b2", "nobody", "S2", "100", at),
		map[string]any{"event_id": "b3", "type": "shipment.completed", "customer_id": "C1", "shipment_id": "S3",
			"amount": 12.5, "occurred_at": at.Format(time.RFC3339)}, // a number, not a string
		map[string]any{"event_id": "b4", "colour": "red"},
		shipment("b5", "C1", "S5", "50", at),
	}}
	res := h.do(call{method: "POST", path: "/v1/events/batch", key: "partner", body: body, invalid: true}) // events b3 and b4 break EventRequest
	wantStatus(t, res, 200)
	var out struct {
		Results []struct {
			Index    int            `json:"index"`
			Status   int            `json:"status"`
			Replayed bool           `json:"replayed"`
			Result   map[string]any `json:"result"`
			Problem  map[string]any `json:"problem"`
		} `json:"results"`
	}
	res.json(t, &out)
	want := []struct {
		status int
		code   string
	}{{201, ""}, {422, string(fault.UnknownCustomer)}, {422, string(fault.InvalidAmount)}, {400, string(fault.InvalidJSON)}, {201, ""}}
	if len(out.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(out.Results), len(want))
	}
	for i, w := range want {
		r := out.Results[i]
		if r.Index != i || r.Status != w.status || (w.code != "" && r.Problem["code"] != w.code) {
			t.Errorf("result %d: %+v, want status %d code %q", i, r, w.status, w.code)
		}
	}
	replay := h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partner", body: body, invalid: true})
	out.Results = nil
	replay.json(t, &out)
	if len(out.Results) != len(want) {
		t.Fatalf("replayed batch: %d results, want %d", len(out.Results), len(want))
	}
	for _, i := range []int{0, 4} {
		if !out.Results[i].Replayed || out.Results[i].Status != 201 {
			t.Errorf("replayed batch, result %d: %+v, want a replay", i, out.Results[i])
		}
	}
	if n := h.count("entries"); n != 2 {
		t.Errorf("%d entries, want 2 from the two good events", n)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/events/batch", key: "partner", body: map[string]any{"events": []any{}}}),
		422, fault.Invalid)
	many := make([]any, 1001)
	for i := range many {
		many[i] = map[string]any{}
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/events/batch", key: "partner", body: map[string]any{"events": many}, invalid: true}),
		422, fault.Invalid)
}

func TestRulesAndCampaignsEndpoints(t *testing.T) {
	h := newHarness(t)
	cur := h.do(call{method: "GET", path: "/v1/rules", key: "partner"})
	wantStatus(t, cur, 200)
	doc := cur.object(t)
	if doc["version"] != float64(1) || doc["timezone"] != "Asia/Shanghai" {
		t.Errorf("current rules %s", cur.body)
	}
	// A new version from tomorrow: regular customers earn x1.1.
	segments := doc["segments"].([]any)
	segments[1].(map[string]any)["multiplier"] = "1.1"
	doc["effective_from"] = time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	delete(doc, "version")
	put := h.do(call{method: "PUT", path: "/v1/rules", key: "admin", body: doc})
	wantStatus(t, put, 201)
	if put.object(t)["version"] != float64(2) {
		t.Errorf("new version %s", put.body)
	}
	wantProblem(t, h.do(call{method: "PUT", path: "/v1/rules", key: "partner", body: doc}), 403, fault.Forbidden)
	segments[2].(map[string]any)["min"] = "100" // overlaps regular
	doc["effective_from"] = time.Now().Add(48 * time.Hour).Format(time.RFC3339)
	bad := wantProblem(t, h.do(call{method: "PUT", path: "/v1/rules", key: "admin", body: doc}), 422, fault.InvalidRules)
	if errs, _ := bad["errors"].(map[string]any); errs["segments[2].min"] == nil {
		t.Errorf("field errors %v, want segments[2].min", bad["errors"])
	}
	versions := h.expect(200, call{method: "GET", path: "/v1/rules/versions", key: "finance"}).object(t)
	if n := len(versions["versions"].([]any)); n != 2 {
		t.Errorf("%d versions, want 2", n)
	}
	future := queryTime(time.Now().Add(30 * time.Hour))
	if v := h.expect(200, call{method: "GET", path: "/v1/rules?at=" + future, key: "admin"}).object(t)["version"]; v != float64(2) {
		t.Errorf("rules at %s: version %v, want 2", future, v)
	}

	// A campaign starts 5.5 minutes ahead at least: one in the past is refused.
	past := map[string]any{"id": "late", "name": "Late", "starts_at": time.Now().Add(-time.Hour).Format(time.RFC3339),
		"ends_at": time.Now().Add(time.Hour).Format(time.RFC3339), "multiplier": "2"}
	if p := wantProblem(t, h.do(call{method: "POST", path: "/v1/campaigns", key: "admin", body: past}), 422, fault.Invalid); p["errors"].(map[string]any)["starts_at"] == nil {
		t.Errorf("a campaign starting an hour ago: %v, want starts_at named", p)
	}
	camp := map[string]any{"id": "double-11", "name": "Singles' Day", "starts_at": time.Now().Add(10 * time.Minute).Format(time.RFC3339),
		"ends_at": time.Now().Add(time.Hour).Format(time.RFC3339), "multiplier": "2", "segments": []string{"mid", "vip"}}
	wantStatus(t, h.do(call{method: "POST", path: "/v1/campaigns", key: "admin", body: camp}), 201)
	wantStatus(t, h.do(call{method: "POST", path: "/v1/campaigns", key: "admin", body: camp}), 200)
	camp["multiplier"] = "3"
	wantProblem(t, h.do(call{method: "POST", path: "/v1/campaigns", key: "admin", body: camp}), 409, fault.CampaignConflict)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/campaigns", key: "partner", body: camp}), 403, fault.Forbidden)
	list := h.expect(200, call{method: "GET", path: "/v1/campaigns?active_at=" + queryTime(time.Now().Add(30*time.Minute)), key: "partner"}).object(t)
	if n := len(list["campaigns"].([]any)); n != 1 {
		t.Errorf("%d active campaigns, want 1", n)
	}
	later := h.expect(200, call{method: "GET", path: "/v1/campaigns?active_at=" + queryTime(time.Now().Add(2*time.Hour)), key: "partner"}).object(t)
	if n := len(later["campaigns"].([]any)); n != 0 {
		t.Errorf("%d campaigns active after the only one ended, want 0", n)
	}
	for _, path := range []string{"/v1/rules?at=tomorrow", "/v1/campaigns?active_at=2026-13-01T00:00:00Z"} {
		p := wantProblem(t, h.do(call{method: "GET", path: path, key: "partner", invalid: true}), 422, fault.Invalid)
		if errs, _ := p["errors"].(map[string]any); len(errs) != 1 {
			t.Errorf("%s: errors %v, want the one parameter named", path, p["errors"])
		}
	}
}

func TestLoyaltyBadInput(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C0", "name": "C"}})
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	at := time.Now().Add(-time.Minute).Format(time.RFC3339)
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             fault.Code
	}{
		{"SelfReferral", "/v1/customers", `{"id":"X","name":"X","referred_by":"X"}`, 422, fault.SelfReferral},
		{"UnknownReferrer", "/v1/customers", `{"id":"X","name":"X","referred_by":"ghost"}`, 422, fault.UnknownReferrer},
		{"ChangedReferrer", "/v1/customers", `{"id":"C1","name":"C","referred_by":"C0"}`, 409, fault.ReferrerImmutable},
		{"BatchItemNotAnObject", "/v1/events", `"just a string"`, 400, fault.InvalidJSON},
		{"CustomerConflict", "/v1/customers", `{"id":"C1","name":"Other"}`, 409, fault.CustomerConflict},
		{"CustomerUnknownField", "/v1/customers", `{"id":"C2","name":"C","vip":true}`, 400, fault.InvalidJSON},
		{"EventAmountExponent", "/v1/events", `{"event_id":"z","type":"shipment.completed","customer_id":"C1","shipment_id":"S","amount":"1e9999","occurred_at":"` + at + `"}`, 422, fault.InvalidAmount},
		{"EventAmountNaN", "/v1/events", `{"event_id":"z","type":"shipment.completed","customer_id":"C1","shipment_id":"S","amount":"NaN","occurred_at":"` + at + `"}`, 422, fault.InvalidAmount},
		{"EventNegative", "/v1/events", `{"event_id":"z","type":"shipment.completed","customer_id":"C1","shipment_id":"S","amount":"-5","occurred_at":"` + at + `"}`, 422, fault.Invalid},
		{"EventSQLInID", "/v1/events", `{"event_id":"z","type":"shipment.completed","customer_id":"C1';DROP TABLE events;--","shipment_id":"S","amount":"5","occurred_at":"` + at + `"}`, 422, fault.Invalid},
		{"EventBadTime", "/v1/events", `{"event_id":"z","type":"shipment.completed","customer_id":"C1","shipment_id":"S","amount":"5","occurred_at":"now"}`, 400, fault.InvalidJSON},
		{"EventUnknownShipment", "/v1/events", `{"event_id":"z","type":"shipment.refunded","customer_id":"C1","shipment_id":"S404","amount":"5","occurred_at":"` + at + `"}`, 422, fault.UnknownShipment},
		{"CampaignBadMultiplier", "/v1/campaigns", `{"id":"c","name":"c","starts_at":"` + at + `","ends_at":"` + at + `","multiplier":"0.5"}`, 422, fault.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "partner"
			if strings.HasPrefix(tc.path, "/v1/campaigns") {
				key = "admin"
			}
			wantProblem(t, h.do(call{method: "POST", path: tc.path, key: key, body: tc.body, invalid: true}), tc.status, tc.code)
		})
	}
	for _, table := range []string{"entries", "events", "shipments", "campaigns"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%d rows in %s after bad input", n, table)
		}
	}
	if n := h.count("customers"); n != 2 {
		t.Errorf("%d customers, want only C0 and C1", n)
	}
}

func queryTime(t time.Time) string {
	return strings.ReplaceAll(t.UTC().Format(time.RFC3339), "+", "%2B")
}

// shanghaiZone is the rules' time zone; the tests cannot run without it.
func shanghaiZone() *time.Location {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return sh
}
