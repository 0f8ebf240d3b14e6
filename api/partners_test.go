package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// addKey gives the harness a key under name: another key of the partner
// behind the key named partnerOf, or a new partner's when partnerOf is "".
func (h *harness) addKey(name, partnerOf string) ledger.APIKey {
	h.t.Helper()
	ctx := context.Background()
	var (
		secret string
		k      ledger.APIKey
		err    error
	)
	if partnerOf == "" {
		secret, k, err = h.ledger.CreateKey(ctx, name, ledger.RolePartner, "")
	} else {
		var of ledger.APIKey
		if of, err = h.ledger.Authenticate(ctx, h.keys[partnerOf]); err != nil {
			h.t.Fatal(err)
		}
		secret, k, err = h.ledger.AddPartnerKey(ctx, of.PartnerID, name)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.keys[name] = secret
	return k
}

// pointsOf is the customer's available points, as an admin reads them.
func (h *harness) pointsOf(customer string) string {
	h.t.Helper()
	bal := h.expect(200, call{method: "GET", path: "/v1/customers/" + customer + "/balances", key: "admin"}).object(h.t)
	return bal["points"].(map[string]any)["available"].(string)
}

// A partner rotating its key posts a refund with the old key and, not
// having heard back, again with the new one: the second is the first
// replayed, and the points are taken back once.
func TestRefundRetriedWithTheRotatedKeyIsAReplay(t *testing.T) {
	h := newHarness(t)
	h.addKey("rotated", "partner")
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	at := time.Now().Add(-time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", at)})
	refund := map[string]any{"event_id": "e2", "type": "shipment.refunded", "customer_id": "C1", "shipment_id": "S1",
		"amount": "40", "occurred_at": at.Add(time.Minute).Format(time.RFC3339)}
	first := h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: refund})
	again := h.expect(201, call{method: "POST", path: "/v1/events", key: "rotated", body: refund})
	if again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Errorf("refund through the rotated key: Idempotent-Replayed %q\n%s\nwant the first answer\n%s",
			again.header.Get("Idempotent-Replayed"), again.body, first.body)
	}
	if got := h.pointsOf("C1"); got != "60" {
		t.Errorf("C1 available points %s, want 100 earned - 40 taken back once", got)
	}
	refund["amount"] = "41"
	wantProblem(t, h.do(call{method: "POST", path: "/v1/events", key: "rotated", body: refund}), 409, fault.IdempotencyConflict)

	// The entry's actor names the partner beside the key.
	var actor string
	if err := h.pool.QueryRow(context.Background(), `SELECT actor FROM entries WHERE kind = 'shipment.refunded'`).Scan(&actor); err != nil {
		t.Fatal(err)
	}
	k, err := h.ledger.Authenticate(context.Background(), h.keys["partner"])
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("partner:%d/key:%d:partner", k.PartnerID, k.ID); actor != want {
		t.Errorf("refund's actor %q, want %q", actor, want)
	}
}

// Two partners choose their ids apart: the same event id, redemption id
// and deposit id from each are separate requests, each recorded.
func TestTwoPartnersUseTheSameIDsIndependently(t *testing.T) {
	h := newHarness(t)
	h.addKey("partner2", "")
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin",
		body: map[string]any{"sku": "mug", "name": "Mug", "kind": "standard", "points_price": "10"}})
	at := time.Now().Add(-time.Hour)
	for partner, c := range map[string]struct{ customer, amount string }{"partner": {"C1", "100"}, "partner2": {"C2", "70"}} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: partner, body: map[string]any{"id": c.customer, "name": "Shop"}})
		for _, r := range []call{
			{method: "POST", path: "/v1/events", body: shipment("same-event", c.customer, "S-"+c.customer, c.amount, at)},
			{method: "POST", path: "/v1/redemptions", body: map[string]any{"redemption_id": "same-redemption",
				"customer_id": c.customer, "sku": "mug", "quantity": 1}},
			{method: "POST", path: "/v1/deposits", body: map[string]any{"deposit_id": "same-deposit",
				"customer_id": c.customer, "amount": c.amount}},
		} {
			r.key = partner
			res := h.do(r)
			if res.status != 201 || res.header.Get("Idempotent-Replayed") != "" {
				t.Errorf("%s %s for %s: %d %q %s, want recorded", partner, r.path, c.customer, res.status,
					res.header.Get("Idempotent-Replayed"), res.body)
			}
		}
	}
	for customer, want := range map[string]struct{ points, principal string }{"C1": {"90", "100.00"}, "C2": {"60", "70.00"}} {
		bal := h.expect(200, call{method: "GET", path: "/v1/customers/" + customer + "/balances", key: "admin"}).object(t)
		if pts, pre := bal["points"].(map[string]any)["available"], bal["prepaid"].(map[string]any)["principal"]; pts != want.points || pre != want.principal {
			t.Errorf("%s points %v principal %v, want %s (amount - the mug's 10) and %s", customer, pts, pre, want.points, want.principal)
		}
	}
	// An admin reversing the deposit both hold names whose it is.
	wantProblem(t, h.do(call{method: "POST", path: "/v1/deposits/same-deposit/reversal", key: "admin",
		body: map[string]any{"reason": "wrong customer"}}), 409, fault.AmbiguousID)
	two, err := h.ledger.Authenticate(context.Background(), h.keys["partner2"])
	if err != nil {
		t.Fatal(err)
	}
	rev := h.expect(201, call{method: "POST", path: "/v1/deposits/same-deposit/reversal?space=partner:" + fmt.Sprint(two.PartnerID),
		key: "admin", body: map[string]any{"reason": "wrong customer"}}).object(t)
	if rev["customer_id"] != "C2" || rev["space"] != two.Space() || rev["principal"] != "0.00" {
		t.Errorf("reversal of partner 2's deposit: %v", rev)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/same-redemption/cancel", key: "admin"}), 409, fault.AmbiguousID)
}

// A customer key's redemption ids are its customer's own: an id a partner
// used is neither answered with the partner's redemption, nor blocked, nor
// cancelled through it; and an id the customer key took first does not
// block the partner.
func TestCustomerKeyNeitherSeesNorBlocksAPartnersRedemptionID(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin",
		body: map[string]any{"sku": "mug", "name": "Mug", "kind": "standard", "points_price": "10"}})
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "Shop"}})
	h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e1", "C1", "S1", "100", time.Now().Add(-time.Hour))})
	redeem := func(key, id string, quantity int) response {
		t.Helper()
		return h.do(call{method: "POST", path: "/v1/redemptions", key: key,
			body: map[string]any{"redemption_id": id, "customer_id": "C1", "sku": "mug", "quantity": quantity}})
	}
	partners := redeem("partner", "r-1", 1)
	wantStatus(t, partners, 201)
	mine := redeem("customer", "r-1", 1) // the same body: still not the partner's answer
	if mine.status != 201 || mine.header.Get("Idempotent-Replayed") != "" || mine.object(t)["entry_id"] == partners.object(t)["entry_id"] {
		t.Errorf("customer key's r-1: %d %q %s\nwant a redemption of its own, not the partner's\n%s", mine.status,
			mine.header.Get("Idempotent-Replayed"), mine.body, partners.body)
	}
	wantStatus(t, redeem("customer", "r-2", 1), 201)
	if r := redeem("partner", "r-2", 2); r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("partner's r-2 after the customer key's: %d %s, want recorded", r.status, r.body)
	}
	wantStatus(t, redeem("partner", "r-3", 1), 201)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/r-3/cancel", key: "customer"}), 404, fault.NotFound)
	cancelled := h.expect(200, call{method: "POST", path: "/v1/redemptions/r-1/cancel", key: "customer"}).object(t)
	if cancelled["entry_id"] != mine.object(t)["entry_id"] {
		t.Errorf("the customer key cancelled %v, want its own r-1 %s", cancelled, mine.body)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/r-1/cancel?space=partner:1", key: "customer"}), 403, fault.Forbidden)
	// 100 earned; the partner's r-1, r-2 (x2), r-3 and the customer key's
	// r-1 (cancelled) and r-2 at 10 each.
	if got, want := h.pointsOf("C1"), fmt.Sprint(100-10-20-10-10); got != want {
		t.Errorf("C1 available points %s, want %s", got, want)
	}
}
