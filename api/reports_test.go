package api

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

func TestFinanceReports(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2", "C3"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
	}
	start := time.Now().Add(-2 * time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "2500", time.Now().Add(-time.Hour))})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e2", "C2", "S2", "300", time.Now().Add(-time.Hour))})
	h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "5000"}})
	dep := h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d2", "customer_id": "C2", "amount": "999.99"}})
	if m := dep.object(t); m["rate"] != "0" {
		t.Errorf("a deposit under 1,000 records rate %v, want 0", m["rate"])
	}
	rev := h.do(call{method: "POST", path: "/v1/deposits/d2/reversal", key: "admin", body: map[string]any{"reason": "bounced"}})
	wantStatus(t, rev, 201)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d2/reversal", key: "admin", body: map[string]any{"reason": "again"}}),
		409, fault.AlreadyReversed)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d2/reversal", key: "partner", body: map[string]any{"reason": "x"}}),
		403, fault.Forbidden)

	tb := h.do(call{method: "GET", path: "/v1/reports/trial-balance", key: "finance"})
	wantStatus(t, tb, 200)
	totals := tb.object(t)["totals"].([]any)
	if len(totals) != 2 {
		t.Errorf("trial balance totals %v, want one per asset (CNY, PTS)", totals)
	}
	for _, tot := range totals {
		if tt := tot.(map[string]any); tt["balanced"] != true || tt["debits"] != tt["credits"] {
			t.Errorf("trial balance totals %v", tt)
		}
	}
	tbCSV := h.expect(200, call{method: "GET", path: "/v1/reports/trial-balance?format=csv", key: "finance"})
	records, err := csv.NewReader(strings.NewReader(string(tbCSV.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	accounts := tb.object(t)["accounts"].([]any)
	if n := h.count("accounts"); len(accounts) != n {
		t.Errorf("trial balance lists %d accounts, the books hold %d", len(accounts), n)
	}
	if len(records) != 1+len(accounts)+2 {
		t.Fatalf("trial balance CSV has %d records for %d accounts and 2 totals", len(records), len(accounts))
	}
	for i, a := range accounts {
		acct := a.(map[string]any)
		if records[i+1][0] != acct["account"] || records[i+1][4] != acct["balance"] {
			t.Errorf("CSV row %v, JSON %v", records[i+1], acct)
		}
	}
	past := h.expect(200, call{method: "GET", path: "/v1/reports/trial-balance?as_of=" + queryTime(start), key: "finance"}).object(t)
	if n := len(past["accounts"].([]any)); n != len(accounts) {
		t.Errorf("trial balance before anything happened lists %d accounts, want all %d at zero", n, len(accounts))
	}
	for _, a := range past["accounts"].([]any) {
		if b := a.(map[string]any)["balance"]; b != "0" && b != "0.00" {
			t.Errorf("before anything happened, %v", a)
		}
	}

	pts := h.do(call{method: "GET", path: "/v1/reports/points?from=" + queryTime(start), key: "finance"})
	wantStatus(t, pts, 200)
	if p := pts.object(t); p["opening"] != "0" || p["closing"] != "2800" || p["earned"].(map[string]any)["volume"] != "2800" {
		t.Errorf("points report %s", pts.body)
	}
	month := time.Now().Add(-time.Hour).In(shanghaiZone()).Format("2006-01") // the shipments' month
	seg := h.do(call{method: "GET", path: "/v1/reports/segments?month=" + month, key: "finance"})
	wantStatus(t, seg, 200)
	if s := seg.object(t); s["customers"] != float64(3) || s["contribution"] != "2800" {
		t.Errorf("segments %s", seg.body)
	}
	segCSV := h.expect(200, call{method: "GET", path: "/v1/reports/segments?format=csv&month=" + month, key: "finance"})
	if recs, err := csv.NewReader(strings.NewReader(string(segCSV.body))).ReadAll(); err != nil || len(recs) != 1+5+3+1 {
		t.Errorf("segments CSV: %v %v", recs, err)
	}

	for _, path := range []string{"/v1/reports/rebates", "/v1/reports/rebates?from=soon", "/v1/reports/segments?month=2026-13",
		"/v1/reports/trial-balance?format=xml", "/v1/reports/points?from=" + queryTime(time.Now()) + "&to=" + queryTime(start)} {
		wantProblem(t, h.do(call{method: "GET", path: path, key: "finance", invalid: true}), 422, fault.Invalid)
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/reports/rebates?from=" + queryTime(start), key: "partner"}), 403, fault.Forbidden)

	rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t)
	if rec["pass"] != true {
		t.Errorf("reconciliation %v", rec)
	}
	found := false
	for _, c := range rec["checks"].([]any) {
		found = found || c.(map[string]any)["name"] == "rebates_match_rules"
	}
	if !found {
		t.Error("reconciliation does not recompute rebates")
	}
}
