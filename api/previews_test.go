package api

import (
	"context"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// tableRows counts the rows of every table of the database (but the
// migrations'), by table: what a preview must leave as it found it.
func (h *harness) tableRows() map[string]int64 {
	h.t.Helper()
	ctx := context.Background()
	rows, err := h.pool.Query(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'`)
	if err != nil {
		h.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			h.t.Fatal(err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := h.pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			h.t.Fatal(err)
		}
		out[t] = n
	}
	for _, want := range []string{"entries", "postings", "events", "money_movements", "redemptions", "notifications"} {
		if _, ok := out[want]; !ok {
			h.t.Fatalf("tableRows does not count %s", want)
		}
	}
	return out
}

// previewThenCall sends the request with ?dry_run=true, checks that it
// wrote nothing, then sends it for real: it returns both answers.
func (h *harness) previewThenCall(path, key string, body any) (preview, real response) {
	h.t.Helper()
	before := h.tableRows()
	preview = h.do(call{method: "POST", path: path + "?dry_run=true", key: key, body: body})
	if after := h.tableRows(); !maps.Equal(before, after) {
		h.t.Errorf("POST %s?dry_run=true wrote rows:\nbefore %v\nafter  %v", path, before, after)
	}
	real = h.do(call{method: "POST", path: path, key: key, body: body})
	return preview, real
}

// wantSameAnswer checks a preview's answer against the real call's: the
// same figures, the preview marked and without an entry, the real call
// with one.
func wantSameAnswer(t *testing.T, what string, preview, real map[string]any) {
	t.Helper()
	if preview["preview"] != true || preview["entry_id"] != nil {
		t.Errorf("%s: preview not marked or answers an entry: %v", what, preview)
	}
	if _, ok := real["preview"]; ok || real["entry_id"] == nil {
		t.Errorf("%s: the real answer is marked a preview or has no entry: %v", what, real)
	}
	p, r := maps.Clone(preview), maps.Clone(real)
	for _, k := range []string{"preview", "entry_id", "created_at"} {
		delete(p, k)
		delete(r, k)
	}
	if !reflect.DeepEqual(p, r) {
		t.Errorf("%s: the preview answered\n%v\nthe call then answered\n%v", what, p, r)
	}
}

// TestPreviewAnswersWhatTheCallThenAnswersAndWritesNothing previews each
// kind of call (a shipment at mid tier in a campaign, a referee's first
// shipment paying a referral, a deposit with its rebate, a charge drawing
// on the rebate, a withdrawal with its clawback, a redemption), checks
// that the preview wrote no row of any table, then makes the call and
// checks the same figures, which are DOMAIN.md's.
func TestPreviewAnswersWhatTheCallThenAnswersAndWritesNothing(t *testing.T) {
	h := newHarness(t)
	for _, c := range []map[string]any{{"id": "R1", "name": "R"}, {"id": "C1", "name": "Shop"}, {"id": "C3", "name": "Referee", "referred_by": "R1"}} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: c})
	}
	// A campaign active now: the API creates campaigns 5.5 minutes ahead at
	// least, so this one is seeded as if created an hour ago.
	h.seedCampaign("camp", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "1.5", "mid")
	// Last month's 5,000 makes C1 mid-tier (x1.2) this month.
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e0", "C1", "S0", "5000", lastMonth())})
	now := time.Now().Add(-time.Minute)

	t.Run("ShipmentInCampaign", func(t *testing.T) {
		p, r := h.previewThenCall("/v1/events", "partner", shipment("e1", "C1", "S1", "123.45", now))
		wantStatus(t, p, 200)
		wantStatus(t, r, 201)
		pm := p.object(t)
		// floor(123.45 x 1.2 x 1.5) = floor(222.21) = 222
		if e := pm["earning"].(map[string]any); e["points"] != "222" || e["multiplier"] != "1.2" || e["campaign"] != "camp" ||
			pm["tier"].(map[string]any)["segment"] != "mid" {
			t.Errorf("preview %s: want mid x1.2 x1.5 = 222 in camp", p.body)
		}
		wantSameAnswer(t, "shipment", pm, r.object(t))

		again := h.do(call{method: "POST", path: "/v1/events?dry_run=true", key: "partner", body: shipment("e1", "C1", "S1", "123.45", now)})
		wantStatus(t, again, 200)
		if am := again.object(t); again.header.Get("Idempotent-Replayed") != "true" || am["entry_id"] != r.object(t)["entry_id"] || am["preview"] != true {
			t.Errorf("a preview of a recorded event: %v %s, want the record, marked", again.header, again.body)
		}
	})
	t.Run("ReferralPending", func(t *testing.T) {
		p, r := h.previewThenCall("/v1/events", "partner", shipment("e2", "C3", "S2", "60", now))
		wantStatus(t, p, 200)
		wantStatus(t, r, 201)
		pm := p.object(t)
		if ref, _ := pm["referral"].(map[string]any); ref["referrer_id"] != "R1" || ref["status"] != "pending" || ref["points"] != "500" ||
			pm["points"] != "60" {
			t.Errorf("preview %s: want 60 points and R1's 500 pending", p.body)
		}
		wantSameAnswer(t, "referee's first shipment", pm, r.object(t))
	})
	t.Run("Refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   map[string]any
			status int
			code   fault.Code
		}{
			{"DuplicateShipment", shipment("e3", "C1", "S1", "10", now), 409, fault.DuplicateShipment},
			{"UnknownCustomer", shipment("e4", "C404", "S4", "10", now), 422, fault.UnknownCustomer},
			{"UnknownShipment", map[string]any{"event_id": "e5", "type": "shipment.refunded", "customer_id": "C1", "shipment_id": "S404",
				"amount": "1", "occurred_at": now.Format(time.RFC3339)}, 422, fault.UnknownShipment},
			{"RefundExceeds", map[string]any{"event_id": "e6", "type": "shipment.refunded", "customer_id": "C1", "shipment_id": "S1",
				"amount": "123.46", "occurred_at": now.Format(time.RFC3339)}, 422, fault.RefundExceeds},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p, r := h.previewThenCall("/v1/events", "partner", tc.body)
				wantProblem(t, p, tc.status, tc.code)
				wantProblem(t, r, tc.status, tc.code)
			})
		}
	})
	t.Run("Money", func(t *testing.T) {
		at := now.Format(time.RFC3339) // sent: a movement without one happens when it is recorded
		dep := map[string]any{"deposit_id": "d1", "customer_id": "C1", "amount": "12345.67", "occurred_at": at}
		p, r := h.previewThenCall("/v1/deposits", "partner", dep)
		wantStatus(t, p, 200)
		wantStatus(t, r, 201)
		pm := p.object(t)
		if pm["rate"] != "0.04" || pm["rebate"] != "493.82" || pm["principal"] != "12345.67" || pm["rebate_balance"] != "493.82" {
			t.Errorf("deposit preview %s: want 4%% = 493.82", p.body)
		}
		wantSameAnswer(t, "deposit", pm, r.object(t))

		ch := map[string]any{"charge_id": "c1", "customer_id": "C1", "amount": "12500", "shipment_id": "S1", "occurred_at": at}
		p, r = h.previewThenCall("/v1/charges", "partner", ch)
		wantStatus(t, p, 200)
		wantStatus(t, r, 201)
		pm = p.object(t)
		if pm["from_principal"] != "12345.67" || pm["from_rebate"] != "154.33" || pm["principal"] != "0.00" || pm["rebate_balance"] != "339.49" {
			t.Errorf("charge preview %s: want principal 0.00, rebate 339.49", p.body)
		}
		wantSameAnswer(t, "charge", pm, r.object(t))

		p, r = h.previewThenCall("/v1/charges", "partner", map[string]any{"charge_id": "c2", "customer_id": "C1", "amount": "339.50", "shipment_id": "S2"})
		wantProblem(t, p, 422, fault.InsufficientFunds)
		wantProblem(t, r, 422, fault.InsufficientFunds)

		h.expect(201, call{method: "POST", path: "/v1/deposits", key: "partner", body: map[string]any{"deposit_id": "d3", "customer_id": "C3", "amount": "10000"}})
		p, r = h.previewThenCall("/v1/withdrawals", "partner", map[string]any{"withdrawal_id": "w1", "customer_id": "C3", "amount": "2500", "occurred_at": at})
		wantStatus(t, p, 200)
		wantStatus(t, r, 201)
		pm = p.object(t)
		if pm["clawback"] != "100.00" || pm["principal"] != "7500.00" || pm["rebate_balance"] != "300.00" {
			t.Errorf("withdrawal preview %s: want clawback 100.00 of 400, principal 7500.00", p.body)
		}
		wantSameAnswer(t, "withdrawal", pm, r.object(t))
	})
	t.Run("Redemption", func(t *testing.T) {
		h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "pen", "name": "Pen",
			"kind": "standard", "points_price": "10"}})
		body := map[string]any{"redemption_id": "r1", "customer_id": "C1", "sku": "pen", "quantity": 3}
		p, r := h.previewThenCall("/v1/redemptions", "partner", body)
		wantStatus(t, p, 200)
		wantStatus(t, r, 201)
		pm := p.object(t)
		if pm["points"] != "30" || pm["status"] != "redeemed" {
			t.Errorf("redemption preview %s: want 3 x 10 = 30 points", p.body)
		}
		wantSameAnswer(t, "redemption", pm, r.object(t))
		p, r = h.previewThenCall("/v1/redemptions", "partner", map[string]any{"redemption_id": "r2", "customer_id": "C1", "sku": "pen", "quantity": 1000})
		wantProblem(t, p, 422, fault.InsufficientPoints)
		wantProblem(t, r, 422, fault.InsufficientPoints)
	})
	t.Run("Batch", func(t *testing.T) {
		// A shipment and its refund in one batch: the preview's refund sees
		// the preview's shipment, as the call's does. 1,000 at mid x1.2 x1.5
		// = 1,800; refunding 500 takes back 900.
		refund := map[string]any{"event_id": "b2", "type": "shipment.refunded", "customer_id": "C1", "shipment_id": "SB",
			"amount": "500", "occurred_at": now.Add(time.Second).Format(time.RFC3339)}
		bad := shipment("b3", "C1", "SC", "1.001", now)
		body := map[string]any{"events": []any{shipment("b1", "C1", "SB", "1000", now), refund, bad}}
		p, r := h.previewThenCall("/v1/events/batch", "partner", body)
		wantStatus(t, p, 200)
		wantStatus(t, r, 200)
		pm, rm := p.object(t), r.object(t)
		if pm["preview"] != true || rm["preview"] != nil {
			t.Errorf("batch marks: preview %v, call %v", pm["preview"], rm["preview"])
		}
		pi, ri := pm["results"].([]any), rm["results"].([]any)
		for i := range 2 {
			pitem, ritem := pi[i].(map[string]any), ri[i].(map[string]any)
			if pitem["status"] != float64(200) || ritem["status"] != float64(201) {
				t.Errorf("item %d statuses %v and %v, want 200 and 201", i, pitem["status"], ritem["status"])
			}
			wantSameAnswer(t, "batch item", pitem["result"].(map[string]any), ritem["result"].(map[string]any))
		}
		if got := pi[1].(map[string]any)["result"].(map[string]any)["refund"].(map[string]any)["points_taken_back"]; got != "900" {
			t.Errorf("the preview's refund took back %v, want 900 of the preview's 1,800", got)
		}
		for _, items := range [][]any{pi, ri} {
			if prob, _ := items[2].(map[string]any)["problem"].(map[string]any); prob["code"] != string(fault.InvalidAmount) {
				t.Errorf("item 2: %v, want invalid_amount", items[2])
			}
		}
	})
	t.Run("BadDryRun", func(t *testing.T) {
		for _, path := range []string{"/v1/events", "/v1/events/batch", "/v1/deposits", "/v1/charges", "/v1/withdrawals", "/v1/redemptions"} {
			wantProblem(t, h.do(call{method: "POST", path: path + "?dry_run=yes", key: "partner", body: map[string]any{}, invalid: true}),
				422, fault.Invalid)
		}
	})
}
