package api

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// TestPrepaidWalkthrough is the README's: deposit 12,345.67 and see a 493.82
// rebate, charge 12,500 and see principal 0 and rebate 339.49, then pull the
// rebate roll-forward as CSV and see it close.
func TestPrepaidWalkthrough(t *testing.T) {
	h := newHarness(t)
	start := time.Now().Add(-time.Hour)
	h.do(call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	dep := h.do(call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d-1", "customer_id": "C1", "amount": "12345.67"}})
	wantStatus(t, dep, 201)
	if m := dep.object(t); m["rate"] != "0.04" || m["rebate"] != "493.82" || m["rule_version"] != float64(1) {
		t.Errorf("deposit %s", dep.body)
	}
	again := h.do(call{method: "POST", path: "/v1/deposits", key: "partner",
		body: map[string]any{"deposit_id": "d-1", "customer_id": "C1", "amount": "12345.67"}})
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeated deposit not a replay: %s", again.body)
	}
	ch := h.do(call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c-1", "customer_id": "C1", "amount": "12500", "shipment_id": "S1"}})
	wantStatus(t, ch, 201)
	if m := ch.object(t); m["principal"] != "0" || m["rebate_balance"] != "339.49" || m["from_rebate"] != "154.33" {
		t.Errorf("charge %s", ch.body)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/charges", key: "partner",
		body: map[string]any{"charge_id": "c-2", "customer_id": "C1", "amount": "339.50", "shipment_id": "S2"}}),
		422, ledger.CodeInsufficientFunds)
	wd := h.do(call{method: "POST", path: "/v1/withdrawals", key: "partner",
		body: map[string]any{"withdrawal_id": "w-1", "customer_id": "C1", "amount": "0.01"}})
	wantProblem(t, wd, 422, ledger.CodeInsufficientFunds)

	bal := h.do(call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if p := bal["prepaid"].(map[string]any); p["principal"] != "0" || p["rebate"] != "339.49" {
		t.Errorf("balances %v", bal)
	}

	end := time.Now().Add(time.Minute)
	q := "/v1/reports/rebates?from=" + queryTime(start) + "&to=" + queryTime(end)
	js := h.do(call{method: "GET", path: q, key: "finance"})
	wantStatus(t, js, 200)
	total := js.object(t)["total"].(map[string]any)
	if total["opening"] != "0.00" || total["granted"] != "493.82" || total["used_by_charges"] != "154.33" ||
		total["closing"] != "339.49" || total["deposits"] != "12345.67" || total["effective_rate"] != "0.0400" {
		t.Errorf("rebate roll-forward %v", total)
	}
	csvRes := h.do(call{method: "GET", path: q + "&format=csv", key: "finance"})
	wantStatus(t, csvRes, 200)
	if ct := csvRes.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("content type %q", ct)
	}
	records, err := csv.NewReader(strings.NewReader(string(csvRes.body))).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, csvRes.body)
	}
	if len(records) != 3 || records[2][0] != "TOTAL" {
		t.Fatalf("CSV %v, want header, C1, TOTAL", records)
	}
	// The CSV says what the JSON says, figure for figure.
	for i, h := range records[0] {
		if records[2][i] != total[h] {
			t.Errorf("CSV %s = %s, JSON %v", h, records[2][i], total[h])
		}
	}
	viaAccept := h.do(call{method: "GET", path: q, key: "finance", header: map[string]string{"Accept": "text/csv"}})
	if string(viaAccept.body) != string(csvRes.body) {
		t.Errorf("Accept: text/csv and ?format=csv differ")
	}
}

func TestFinanceReports(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2", "C3"} {
		h.do(call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
	}
	start := time.Now().Add(-2 * time.Hour)
	h.do(call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "2500", time.Now().Add(-time.Hour))})
	h.do(call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e2", "C2", "S2", "300", time.Now().Add(-time.Hour))})
	h.do(call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "5000"}})
	dep := h.do(call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d2", "customer_id": "C2", "amount": "999.99"}})
	if m := dep.object(t); m["rate"] != "0" {
		t.Errorf("a deposit under 1,000 records rate %v, want 0", m["rate"])
	}
	rev := h.do(call{method: "POST", path: "/v1/deposits/d2/reversal", key: "admin", body: map[string]any{"reason": "bounced"}})
	wantStatus(t, rev, 201)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d2/reversal", key: "admin", body: map[string]any{"reason": "again"}}),
		409, ledger.CodeAlreadyReversed)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/d2/reversal", key: "partner", body: map[string]any{"reason": "x"}}),
		403, ledger.CodeForbidden)

	tb := h.do(call{method: "GET", path: "/v1/reports/trial-balance", key: "finance"})
	wantStatus(t, tb, 200)
	for _, tot := range tb.object(t)["totals"].([]any) {
		if tt := tot.(map[string]any); tt["balanced"] != true || tt["debits"] != tt["credits"] {
			t.Errorf("trial balance totals %v", tt)
		}
	}
	tbCSV := h.do(call{method: "GET", path: "/v1/reports/trial-balance?format=csv", key: "finance"})
	records, err := csv.NewReader(strings.NewReader(string(tbCSV.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	accounts := tb.object(t)["accounts"].([]any)
	if len(records) != 1+len(accounts)+2 {
		t.Errorf("trial balance CSV has %d records for %d accounts and 2 totals", len(records), len(accounts))
	}
	for i, a := range accounts {
		acct := a.(map[string]any)
		if records[i+1][0] != acct["account"] || records[i+1][4] != acct["balance"] {
			t.Errorf("CSV row %v, JSON %v", records[i+1], acct)
		}
	}
	past := h.do(call{method: "GET", path: "/v1/reports/trial-balance?as_of=" + queryTime(start), key: "finance"}).object(t)
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
	segCSV := h.do(call{method: "GET", path: "/v1/reports/segments?format=csv&month=" + month, key: "finance"})
	if recs, err := csv.NewReader(strings.NewReader(string(segCSV.body))).ReadAll(); err != nil || len(recs) != 1+5+3+1 {
		t.Errorf("segments CSV: %v %v", recs, err)
	}

	for _, path := range []string{"/v1/reports/rebates", "/v1/reports/rebates?from=soon", "/v1/reports/segments?month=2026-13",
		"/v1/reports/trial-balance?format=xml", "/v1/reports/points?from=" + queryTime(time.Now()) + "&to=" + queryTime(start)} {
		wantProblem(t, h.do(call{method: "GET", path: path, key: "finance", invalid: true}), 422, ledger.CodeInvalid)
	}
	wantProblem(t, h.do(call{method: "GET", path: "/v1/reports/rebates?from=" + queryTime(start), key: "partner"}), 403, ledger.CodeForbidden)

	rec := h.do(call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t)
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

func TestMoneyBadInput(t *testing.T) {
	h := newHarness(t)
	h.do(call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             ledger.Code
	}{
		{"Fen", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"1.001"}`, 422, ledger.CodeInvalidAmount},
		{"Negative", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"-1"}`, 422, ledger.CodeInvalid},
		{"Number", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":100}`, 422, ledger.CodeInvalidAmount},
		{"Huge", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"1e9999"}`, 422, ledger.CodeInvalidAmount},
		{"UnknownCustomer", "/v1/deposits", `{"deposit_id":"d","customer_id":"ghost","amount":"1"}`, 422, "unknown_customer"},
		{"WrongIDField", "/v1/deposits", `{"charge_id":"d","customer_id":"C1","amount":"1"}`, 400, codeInvalidJSON},
		{"ChargeWithoutShipment", "/v1/charges", `{"charge_id":"c","customer_id":"C1","amount":"1"}`, 422, ledger.CodeInvalid},
		{"Overdraw", "/v1/charges", `{"charge_id":"c","customer_id":"C1","amount":"1","shipment_id":"S"}`, 422, ledger.CodeInsufficientFunds},
		{"BadID", "/v1/withdrawals", `{"withdrawal_id":"a b","customer_id":"C1","amount":"1"}`, 422, ledger.CodeInvalid},
		{"Future", "/v1/deposits", `{"deposit_id":"d","customer_id":"C1","amount":"1","occurred_at":"2999-01-01T00:00:00Z"}`, 422, ledger.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, h.do(call{method: "POST", path: tc.path, key: "partner", body: tc.body, invalid: true}), tc.status, tc.code)
		})
	}
	for _, table := range []string{"money_movements", "entries"} {
		if n := h.count(table); n != 0 {
			t.Errorf("%d rows in %s after bad input", n, table)
		}
	}
}
