package api

import (
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

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
	if s := seg.object(t); s["customers"] != float64(3) || s["contribution"] != "2800.00" {
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

// TestCSVCellsCannotBeFormulas exports reports whose text cells begin with
// each character a spreadsheet reads as the start of a formula: every such
// text cell reaches the spreadsheet with a leading single quote, inside
// double quotes, and a cell that is a decimal number (a negative balance)
// is left as the number it is.
func TestCSVCellsCannotBeFormulas(t *testing.T) {
	// Through the API: a customer id may begin with '-'.
	h := newHarness(t)
	start := time.Now().Add(-time.Hour)
	ids := []string{"-2-3", "-HYPERLINK", "-12.34", "--1"}
	for i, id := range ids {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
		h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner",
			body: map[string]any{"deposit_id": "d" + strconv.Itoa(i), "customer_id": id, "amount": "1500"}})
	}
	raw := h.expect(200, call{method: "GET", path: "/v1/reports/rebates?format=csv&from=" + queryTime(start), key: "finance"})
	recs, err := csv.NewReader(strings.NewReader(string(raw.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs[1:] {
		got[r[0]] = true
	}
	for _, id := range ids {
		want := "'" + id
		if _, err := decimal.NewFromString(id); err == nil {
			want = id // a number, not a formula
		}
		if !got[want] {
			t.Errorf("rebate CSV lacks the customer cell %q: %q", want, recs)
		}
		if want != id && !strings.Contains(string(raw.body), "\n\""+want+"\",") {
			t.Errorf("the cell %q is not quoted: %s", want, raw.body)
		}
	}
	tb := h.expect(200, call{method: "GET", path: "/v1/reports/trial-balance?format=csv", key: "finance"})
	recs, err = csv.NewReader(strings.NewReader(string(tb.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	negative := 0
	for _, r := range recs[1:] {
		if strings.HasPrefix(r[4], "-") {
			negative++
			if _, err := decimal.NewFromString(r[4]); err != nil {
				t.Errorf("trial balance CSV balance %q of %s is not a decimal number", r[4], r[0])
			}
		}
	}
	if negative == 0 {
		t.Errorf("trial balance CSV has no negative balance to check: %s", tb.body)
	}

	// The writer itself, with a cell beginning with each character.
	cells := []string{"=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "-", "+", "=", "@", "-1e5", "-1.2.3",
		"-12.34", "+5", "-0.50", "12", "plain", ""}
	var b strings.Builder
	w := newCSVWriter(&b)
	if err := w.Write(cells); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	back, err := csv.NewReader(strings.NewReader(b.String())).Read()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cells {
		want := c
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			if _, err := decimal.NewFromString(c); err != nil || strings.ContainsAny(c, "eE") {
				want = "'" + c
			}
		}
		if back[i] != want {
			t.Errorf("cell %q reads back as %q, want %q", c, back[i], want)
		}
	}
}
