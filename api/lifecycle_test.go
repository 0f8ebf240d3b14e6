package api

import (
	"encoding/csv"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestLifecycleReportAndProfile: a customer whose first shipment is this
// month is new, one who never shipped a prospect, both prospects the month
// before; the report says so as JSON and CSV, to finance only; the profile
// shows last month's stage; the rule set answers its lifecycle thresholds
// (version 1's defaults) and refuses them out of bounds.
func TestLifecycleReportAndProfile(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
	}
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Minute))})
	sh := shanghaiZone()
	month := time.Now().In(sh).Format("2006-01")
	first := time.Date(time.Now().In(sh).Year(), time.Now().In(sh).Month(), 1, 0, 0, 0, 0, sh)
	prev := first.AddDate(0, -1, 0).Format("2006-01")

	rep := h.expect(200, call{method: "GET", path: "/v1/reports/lifecycle?month=" + month, key: "finance"}).object(t)
	stages := map[string]any{}
	for _, s := range rep["stages"].([]any) {
		stages[s.(map[string]any)["stage"].(string)] = s.(map[string]any)["customers"]
	}
	if rep["customers"] != float64(2) || rep["previous"] != prev || stages["new"] != float64(1) || stages["prospect"] != float64(1) ||
		len(stages) != 6 {
		t.Errorf("lifecycle report %v: want C1 new and C2 a prospect of 2", rep)
	}
	wantMoves := []any{map[string]any{"from": "prospect", "to": "prospect", "customers": float64(1)},
		map[string]any{"from": "prospect", "to": "new", "customers": float64(1)}}
	if !reflect.DeepEqual(rep["movements"], wantMoves) {
		t.Errorf("movements %v, want %v", rep["movements"], wantMoves)
	}

	r := h.expect(200, call{method: "GET", path: "/v1/reports/lifecycle?month=" + month + "&format=csv", key: "admin"})
	records, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"group", "from", "to", "customers"}, {"stage", "", "prospect", "1"}, {"stage", "", "new", "1"},
		{"stage", "", "growing", "0"}, {"stage", "", "steady", "0"}, {"stage", "", "declining", "0"}, {"stage", "", "lapsed", "0"},
		{"movement", "prospect", "prospect", "1"}, {"movement", "prospect", "new", "1"}, {"TOTAL", prev, month, "2"}}
	if !reflect.DeepEqual(records, want) {
		t.Errorf("CSV %q, want %q", records, want)
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/reports/lifecycle?month=" + month}), 401, fault.Unauthorized)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/reports/lifecycle?month=" + month, key: "partner"}), 403, fault.Forbidden)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/reports/lifecycle?month=2026-13", key: "finance"}), 422, fault.Invalid)

	p := h.expect(200, call{method: "GET", path: "/v1/customers/C1", key: "customer"}).object(t)
	if lc := p["lifecycle"].(map[string]any); lc["month"] != prev || lc["stage"] != "prospect" || lc["first_month"] != nil {
		t.Errorf("C1's profile lifecycle %v: last month (%s) C1 was a prospect", lc, prev)
	}

	doc := h.expect(200, call{method: "GET", path: "/v1/rules", key: "admin"}).object(t)
	wantRules := map[string]any{"new_months": float64(3), "lapsed_months": float64(2), "trend_months": float64(3),
		"growth_percent": "20", "decline_percent": "20"}
	if !reflect.DeepEqual(doc["lifecycle"], wantRules) {
		t.Errorf("version 1's lifecycle %v, want %v", doc["lifecycle"], wantRules)
	}
	delete(doc, "version")
	doc["effective_from"] = time.Now().Add(24 * time.Hour).Format(time.RFC3339)
	doc["lifecycle"] = map[string]any{"trend_months": 1}
	bad := wantProblem(t, h.do(call{method: "PUT", path: "/v1/rules", key: "admin", body: doc, invalid: true}), 422, fault.InvalidRules)
	if errs, _ := bad["errors"].(map[string]any); errs["lifecycle.trend_months"] == nil || len(errs) != 1 {
		t.Errorf("errors %v, want lifecycle.trend_months only", bad["errors"])
	}
}
