package api

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// Shipment ids are unique over every partner, but a partner refunds and
// rates only the shipments it recorded: partner B naming partner A's
// shipment S1 gets 422 unknown_shipment (as for no shipment at all), and
// A's customer keeps their points, in a preview and for real, in a batch
// too. An admin, an operator, refunds any partner's shipment.
func TestAnotherPartnerCannotRefundOrRateAPartnersShipment(t *testing.T) {
	h := newHarness(t)
	newPartnerKey(t, h, "partnerB")
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	at := time.Now().Add(-time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("a-1", "C1", "S1", "100", at)})
	before := h.pointsOf("C1")
	refund := map[string]any{"event_id": "b-1", "type": "shipment.refunded", "customer_id": "C1", "shipment_id": "S1",
		"amount": "100", "occurred_at": at.Add(time.Minute).Format(time.RFC3339)}
	rating := map[string]any{"event_id": "b-2", "type": "feedback.submitted", "customer_id": "C1", "shipment_id": "S1",
		"rating": 5, "occurred_at": at.Add(time.Minute).Format(time.RFC3339)}
	for _, ev := range []map[string]any{refund, rating} {
		for _, path := range []string{"/v1/events?dry_run=true", "/v1/events"} {
			wantProblem(t, h.do(call{method: "POST", path: path, key: "partnerB", body: ev}), 422, fault.UnknownShipment)
		}
	}
	var batch batchAnswer
	h.expect(200, call{method: "POST", path: "/v1/events/batch", key: "partnerB",
		body: map[string]any{"events": []any{refund, rating}}}).json(t, &batch)
	if len(batch.Results) != 2 {
		t.Fatalf("%d batch results, want 2: %+v", len(batch.Results), batch)
	}
	for i, r := range batch.Results {
		if r.Status != 422 || r.Problem["code"] != string(fault.UnknownShipment) {
			t.Errorf("batch result %d: %+v, want 422 %s", i, r, fault.UnknownShipment)
		}
	}
	if after := h.pointsOf("C1"); after != before {
		t.Errorf("C1's points %s after partner B's refund and rating, want %s (A's shipment untouched)", after, before)
	}

	// The admin reaches it; the points go back to the channels.
	refund["event_id"] = "admin-1"
	h.expect(201, call{method: "POST", path: "/v1/events", key: "admin", body: refund})
	if after := h.pointsOf("C1"); after != "0" {
		t.Errorf("C1's points %s after the admin's full refund, want 0", after)
	}
	if rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t); rec["pass"] != true {
		t.Errorf("reconciliation fails: %v", rec)
	}
}
