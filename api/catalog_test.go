package api

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestCatalogWalkthrough is the README's: a level product redeemed and
// cancelled, points expiring soon, an expiry run refused at a future date,
// and the books reconciling.
func TestCatalogWalkthrough(t *testing.T) {
	h := newHarness(t)
	partner := func(path string, body any) response {
		t.Helper()
		return h.do(call{method: "POST", path: path, key: "partner", body: body})
	}
	wantStatus(t, partner("/v1/customers", map[string]any{"id": "C1", "name": "Shop"}), 201)
	// 2,500 CNY this month: mid-tier L9 at once, 2,500 + 1,200 points.
	wantStatus(t, partner("/v1/events", shipment("e1", "C1", "S1", "2500", time.Now().Add(-time.Hour))), 201)
	wantStatus(t, partner("/v1/events", shipment("e2", "C1", "S2", "1000", time.Now().Add(-time.Minute))), 201)

	admin := func(method, path string, body any) response {
		t.Helper()
		return h.do(call{method: method, path: path, key: "admin", body: body})
	}
	wantStatus(t, admin("POST", "/v1/products", map[string]any{"sku": "lamp", "name": "Desk lamp", "kind": "level",
		"points_price": "800", "min_level": 9}), 201)
	wantStatus(t, admin("POST", "/v1/products", map[string]any{"sku": "vip-bag", "name": "VIP bag", "kind": "level",
		"points_price": "100", "min_level": 16}), 201)
	wantStatus(t, admin("POST", "/v1/products", map[string]any{"sku": "mug", "name": "Mug", "kind": "featured",
		"points_price": "50", "valid_from": time.Now().Add(-time.Hour).Format(time.RFC3339),
		"valid_until": time.Now().Add(24 * time.Hour).Format(time.RFC3339), "stock": 1, "per_customer_limit": 1}), 201)
	wantProblem(t, admin("POST", "/v1/products", map[string]any{"sku": "lamp", "name": "Lamp", "kind": "standard",
		"points_price": "1"}), 409, fault.ProductExists)

	cat := h.do(call{method: "GET", path: "/v1/customers/C1/catalog", key: "customer"})
	wantStatus(t, cat, 200)
	reasons := map[string]any{}
	for _, it := range cat.object(t)["items"].([]any) {
		item := it.(map[string]any)
		reasons[item["sku"].(string)] = item["reason"]
	}
	if reasons["lamp"] != nil || reasons["mug"] != nil || reasons["vip-bag"] != "not_eligible" {
		t.Errorf("catalog reasons %v", reasons)
	}

	red := h.do(call{method: "POST", path: "/v1/redemptions", key: "customer",
		body: map[string]any{"redemption_id": "red-1", "customer_id": "C1", "sku": "lamp", "quantity": 1}})
	wantStatus(t, red, 201)
	if r := red.object(t); r["points"] != "800" || r["status"] != "redeemed" {
		t.Errorf("redemption %s", red.body)
	}
	bal := h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if pts := bal["points"].(map[string]any); pts["available"] != "2900" || bal["segment"] != "mid" {
		t.Errorf("balances after redeeming %v", bal)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions", key: "customer",
		body: map[string]any{"redemption_id": "red-2", "customer_id": "C1", "sku": "vip-bag", "quantity": 1}}),
		422, fault.NotEligible)
	wantStatus(t, h.do(call{method: "POST", path: "/v1/redemptions/red-1/cancel", key: "customer",
		body: map[string]any{"reason": "changed my mind"}}), 200)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/red-1/cancel", key: "admin"}), 409, fault.AlreadyCancelled)
	bal = h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if pts := bal["points"].(map[string]any); pts["available"] != "3700" {
		t.Errorf("balances after cancelling %v", bal)
	}

	// Points earned this month expire at the end of the 12th month after:
	// within 400 days, not within 300.
	soon := h.expect(200, call{method: "GET", path: "/v1/customers/C1/points/expiring?within_days=400", key: "customer"}).object(t)
	if soon["total"] != "3700" || len(soon["by_date"].([]any)) != 1 {
		t.Errorf("expiring within 400 days %v", soon)
	}
	if none := h.expect(200, call{method: "GET", path: "/v1/customers/C1/points/expiring?within_days=300", key: "customer"}).object(t); none["total"] != "0" {
		t.Errorf("expiring within 300 days %v", none)
	}

	// The expiry job never acts ahead of now: a run as of a day after these
	// points expire is refused; its preview says what would go.
	future := time.Now().AddDate(1, 2, 0)
	entriesBefore := h.count("entries")
	wantProblem(t, admin("POST", "/v1/jobs/expire?as_of="+queryTime(future), nil), 422, fault.AsOfInFuture)
	preview := admin("POST", "/v1/jobs/expire?dry_run=true&as_of="+queryTime(future), nil)
	wantStatus(t, preview, 200)
	if rep := preview.object(t); rep["points"] != "3700" || fmt.Sprint(rep["by_customer"]) != "[map[customer_id:C1 points:3700]]" {
		t.Errorf("preview %s, want C1's 3700", preview.body)
	}
	if n := h.count("entries"); n != entriesBefore || h.count("expiry_runs") != 0 {
		t.Errorf("a refused run and a preview wrote %d entries and %d runs", n-entriesBefore, h.count("expiry_runs"))
	}
	now := admin("POST", "/v1/jobs/expire", nil)
	wantStatus(t, now, 200)
	if rep := now.object(t); rep["points"] != "0" || rep["customers"] != float64(0) || rep["run_id"] != nil {
		t.Errorf("expiry now %s, want a run that expires nothing, without a run id (nothing to undo)", now.body)
	}
	bal = h.expect(200, call{method: "GET", path: "/v1/customers/C1/balances", key: "customer"}).object(t)
	if pts := bal["points"].(map[string]any); pts["balance"] != "3700" {
		t.Errorf("balances after expiry %v", bal)
	}

	st := h.do(call{method: "GET", path: "/v1/customers/C1/statement?limit=2", key: "customer"})
	wantStatus(t, st, 200)
	page := st.object(t)
	entries := page["entries"].([]any)
	if first := entries[0].(map[string]any); first["kind"] != "redemption.cancelled" ||
		first["description"] != "800 points returned: redemption cancelled (changed my mind)" {
		t.Errorf("newest statement entry %v", first)
	}
	next, ok := page["next_cursor"].(string)
	if !ok || len(entries) != 2 {
		t.Fatalf("statement first page of %d entries, next_cursor %v: want 2 and a cursor", len(entries), page["next_cursor"])
	}
	if second := entries[1].(map[string]any); second["description"] != "800 points redeemed for 1 x Desk lamp (lamp)" {
		t.Errorf("second statement entry %v", second)
	}
	rest := h.expect(200, call{method: "GET", path: "/v1/customers/C1/statement?cursor=" + next, key: "customer"}).object(t)
	var descriptions []string
	for _, e := range rest["entries"].([]any) {
		descriptions = append(descriptions, e.(map[string]any)["description"].(string))
	}
	if got := strings.Join(descriptions, " | "); !strings.Contains(got, "1200 points for shipment S2 (mid-tier x1.2)") ||
		!strings.Contains(got, "points for shipment S1 (") {
		t.Errorf("statement %s", got)
	}

	rec := h.expect(200, call{method: "GET", path: "/v1/reconciliation", key: "finance"}).object(t)
	if rec["pass"] != true {
		t.Errorf("reconciliation %v", rec)
	}
}

func TestCatalogAuthorisationAndRefusals(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
		h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e"+id, id, "S"+id, "100", time.Now().Add(-time.Minute))})
	}
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "pen", "name": "Pen",
		"kind": "standard", "points_price": "10"}})
	for _, tc := range []struct {
		name, method, path, key string
		body                    any
		status                  int
		code                    fault.Code
	}{
		{"PartnerReadsStatement", "GET", "/v1/customers/C1/statement", "partner", nil, 403, fault.Forbidden},
		{"PartnerReadsBalances", "GET", "/v1/customers/C1/balances", "partner", nil, 403, fault.Forbidden},
		{"CustomerReadsOthersStatement", "GET", "/v1/customers/C2/statement", "customer", nil, 403, fault.Forbidden},
		{"CustomerReadsOthersExpiring", "GET", "/v1/customers/C2/points/expiring", "customer", nil, 403, fault.Forbidden},
		{"CustomerRedeemsForOther", "POST", "/v1/redemptions", "customer",
			map[string]any{"redemption_id": "x", "customer_id": "C2", "sku": "pen", "quantity": 1}, 403, fault.Forbidden},
		{"CustomerCreatesProduct", "POST", "/v1/products", "customer",
			map[string]any{"sku": "x", "name": "x", "kind": "standard", "points_price": "1"}, 403, fault.Forbidden},
		{"PartnerRunsExpiry", "POST", "/v1/jobs/expire", "partner", nil, 403, fault.Forbidden},
		{"UnknownProduct", "POST", "/v1/redemptions", "partner",
			map[string]any{"redemption_id": "x", "customer_id": "C1", "sku": "ghost", "quantity": 1}, 422, fault.UnknownProduct},
		{"TooManyPoints", "POST", "/v1/redemptions", "partner",
			map[string]any{"redemption_id": "x", "customer_id": "C1", "sku": "pen", "quantity": 11}, 422, fault.InsufficientPoints},
		{"BadRedemptionID", "POST", "/v1/redemptions", "partner",
			map[string]any{"redemption_id": "a/b", "customer_id": "C1", "sku": "pen", "quantity": 1}, 422, fault.Invalid},
		{"FractionalPrice", "POST", "/v1/products", "admin",
			map[string]any{"sku": "x", "name": "x", "kind": "standard", "points_price": "1.5"}, 422, fault.InvalidAmount},
		{"LevelWithoutMinLevel", "POST", "/v1/products", "admin",
			map[string]any{"sku": "x", "name": "x", "kind": "level", "points_price": "1"}, 422, fault.Invalid},
		{"PatchUnknown", "PATCH", "/v1/products/ghost", "admin", map[string]any{"name": "x"}, 404, fault.NotFound},
		{"PatchKind", "PATCH", "/v1/products/pen", "admin", map[string]any{"kind": "level"}, 400, fault.InvalidJSON},
		{"CancelUnknown", "POST", "/v1/redemptions/ghost/cancel", "admin", nil, 404, fault.NotFound},
		{"BadWithinDays", "GET", "/v1/customers/C1/points/expiring?within_days=0", "admin", nil, 422, fault.Invalid},
		{"BadExpiryTime", "POST", "/v1/jobs/expire?as_of=soon", "admin", nil, 422, fault.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, h.do(call{method: tc.method, path: tc.path, key: tc.key, body: tc.body, invalid: true}), tc.status, tc.code)
		})
	}
	if n := h.count("redemptions"); n != 0 {
		t.Errorf("%d redemptions after refusals", n)
	}
	patched := h.do(call{method: "PATCH", path: "/v1/products/pen", key: "admin", body: map[string]any{"points_price": "12", "active": false}})
	wantStatus(t, patched, 200)
	if p := patched.object(t); p["points_price"] != "12" || p["active"] != false {
		t.Errorf("patched %v", p)
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions", key: "partner",
		body: map[string]any{"redemption_id": "y", "customer_id": "C1", "sku": "pen", "quantity": 1}}), 422, fault.UnknownProduct)

	// Loyalty entries are corrected through their flows, not reversed by hand.
	var entryID int64
	if err := h.pool.QueryRow(t.Context(), `SELECT min(id) FROM entries WHERE kind = 'shipment.completed'`).Scan(&entryID); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, h.do(call{method: "POST", path: fmt.Sprintf("/v1/entries/%d/reversal", entryID), key: "admin",
		body: map[string]any{"reason": "oops"}}), 409, fault.NotReversible)
}

// TestProductsListedAsCreatedAndPatched: finance lists every product, active
// or not, by sku, with the fields it was created with; a patch changes only
// what it names, and a patch that would make the product invalid is 422
// and changes nothing.
func TestProductsListedAsCreatedAndPatched(t *testing.T) {
	h := newHarness(t)
	from := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	until := from.Add(48 * time.Hour)
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "pen", "name": "Pen",
		"kind": "standard", "points_price": "10"}})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "mug", "name": "Mug",
		"kind": "featured", "points_price": "50", "valid_from": from.Format(time.RFC3339), "valid_until": until.Format(time.RFC3339),
		"stock": 3, "per_customer_limit": 1}})
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "lamp", "name": "Lamp",
		"kind": "level", "points_price": "800", "min_level": 9}})
	h.expect(200, call{method: "PATCH", path: "/v1/products/lamp", key: "admin", body: map[string]any{"active": false}})

	list := func() map[string]map[string]any {
		t.Helper()
		var out struct {
			Products []map[string]any `json:"products"`
		}
		h.expect(200, call{method: "GET", path: "/v1/products", key: "finance"}).json(t, &out)
		bySKU := map[string]map[string]any{}
		var skus []string
		for _, p := range out.Products {
			skus = append(skus, p["sku"].(string))
			bySKU[p["sku"].(string)] = p
		}
		if got := strings.Join(skus, ","); got != "lamp,mug,pen" {
			t.Errorf("products listed %s, want lamp,mug,pen (by sku, inactive too)", got)
		}
		return bySKU
	}
	got := list()
	for sku, want := range map[string]map[string]any{
		"pen":  {"name": "Pen", "kind": "standard", "points_price": "10", "min_level": nil, "stock": nil, "active": true},
		"mug":  {"name": "Mug", "kind": "featured", "points_price": "50", "stock": float64(3), "per_customer_limit": float64(1), "active": true},
		"lamp": {"name": "Lamp", "kind": "level", "points_price": "800", "min_level": float64(9), "active": false},
	} {
		for k, v := range want {
			if got[sku][k] != v {
				t.Errorf("%s.%s = %v, want %v", sku, k, got[sku][k], v)
			}
		}
	}
	for k, want := range map[string]time.Time{"valid_from": from, "valid_until": until} {
		if at, err := time.Parse(time.RFC3339, fmt.Sprint(got["mug"][k])); err != nil || !at.Equal(want) {
			t.Errorf("mug.%s = %v, want %s", k, got["mug"][k], want)
		}
	}

	for name, patch := range map[string]map[string]any{
		"FractionalPrice": {"points_price": "1.5"},
		"WindowEndsFirst": {"valid_until": from.Add(-time.Hour).Format(time.RFC3339)},
		"NegativeStock":   {"stock": -1},
		"ClearStock":      {"clear": []string{"stock"}},
		"SetAndClear":     {"stock": 3, "clear": []string{"stock"}},
		"ClearTooMany":    {"clear": []string{"min_level", "min_level", "min_level", "min_level", "min_level", "min_level"}},
		"ClearTheName":    {"clear": []string{"name"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, bad := patch["clear"]
			bad = bad && (name == "ClearTooMany" || name == "ClearTheName") // the request breaks the spec on purpose
			r := h.do(call{method: "PATCH", path: "/v1/products/mug", key: "admin", body: patch, invalid: bad})
			code := fault.Invalid
			if name == "FractionalPrice" {
				code = fault.InvalidAmount
			}
			wantProblem(t, r, 422, code)
		})
	}
	if after := list(); !reflect.DeepEqual(after["mug"], got["mug"]) {
		t.Errorf("refused patches changed the product:\n%v\n%v", got["mug"], after["mug"])
	}
	patched := h.expect(200, call{method: "PATCH", path: "/v1/products/mug", key: "admin", body: map[string]any{"stock": 5}}).object(t)
	if patched["stock"] != float64(5) || patched["points_price"] != "50" || patched["name"] != "Mug" {
		t.Errorf("patched %v, want stock 5 and the rest as before", patched)
	}
	limited := h.expect(200, call{method: "PATCH", path: "/v1/products/mug", key: "admin", body: map[string]any{"per_customer_limit": 2}}).object(t)
	cleared := h.expect(200, call{method: "PATCH", path: "/v1/products/mug", key: "admin", body: map[string]any{"clear": []string{"per_customer_limit"}}}).object(t)
	if limited["per_customer_limit"] != float64(2) || cleared["per_customer_limit"] != nil || cleared["stock"] != float64(5) {
		t.Errorf("the limit set, then cleared: %v, then %v; want 2, then none, the stock kept", limited["per_customer_limit"], cleared)
	}
}

// TestFeaturedStockIsRedeemedOnceAndCancelledBack: the last unit of a
// featured product goes to the first redemption, the next is 409
// out_of_stock and takes no points; a redemption_id reused for another
// quantity is 409; another customer's key may not cancel it; cancelling it
// puts the unit back for the next customer.
func TestFeaturedStockIsRedeemedOnceAndCancelledBack(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
		h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e"+id, id, "S"+id, "100", time.Now().Add(-time.Minute))})
	}
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "mug", "name": "Mug",
		"kind": "featured", "points_price": "50", "valid_from": time.Now().Add(-time.Hour).Format(time.RFC3339),
		"valid_until": time.Now().Add(time.Hour).Format(time.RFC3339), "stock": 1}})
	redeem := func(key, id, customer string, quantity int) response {
		t.Helper()
		return h.do(call{method: "POST", path: "/v1/redemptions", key: key,
			body: map[string]any{"redemption_id": id, "customer_id": customer, "sku": "mug", "quantity": quantity}})
	}
	points := func(customer, key string) any {
		t.Helper()
		return h.expect(200, call{method: "GET", path: "/v1/customers/" + customer + "/balances", key: key}).object(t)["points"].(map[string]any)["available"]
	}
	stock := func() any {
		t.Helper()
		for _, p := range h.expect(200, call{method: "GET", path: "/v1/products", key: "admin"}).object(t)["products"].([]any) {
			if p := p.(map[string]any); p["sku"] == "mug" {
				return p["stock"]
			}
		}
		t.Fatal("mug not listed")
		return nil
	}

	first := redeem("customer", "r1", "C1", 1)
	wantStatus(t, first, 201)
	if m := first.object(t); m["points"] != "50" || m["status"] != "redeemed" {
		t.Errorf("redemption %s", first.body)
	}
	wantProblem(t, redeem("other", "r2", "C2", 1), 409, fault.OutOfStock)
	wantProblem(t, redeem("customer", "r1", "C1", 2), 409, fault.IdempotencyConflict)
	if got, want := []any{points("C1", "customer"), points("C2", "other"), stock()}, []any{"50", "100", float64(0)}; !reflect.DeepEqual(got, want) {
		t.Errorf("C1 points, C2 points, stock = %v, want %v", got, want)
	}

	// Another customer's key names ids of its own space only: C1's r1 is not there.
	wantProblem(t, h.do(call{method: "POST", path: "/v1/redemptions/r1/cancel", key: "other", body: map[string]any{"reason": "not mine"}}),
		404, fault.NotFound)
	cancelled := h.expect(200, call{method: "POST", path: "/v1/redemptions/r1/cancel", key: "customer", body: map[string]any{"reason": "no"}}).object(t)
	if cancelled["status"] != "cancelled" || cancelled["cancel_entry_id"] == nil {
		t.Errorf("cancelled redemption %v", cancelled)
	}
	if got, want := []any{points("C1", "customer"), stock()}, []any{"100", float64(1)}; !reflect.DeepEqual(got, want) {
		t.Errorf("after cancelling: C1 points, stock = %v, want %v", got, want)
	}
	wantStatus(t, redeem("other", "r2", "C2", 1), 201)
	if got := points("C2", "other"); got != "50" {
		t.Errorf("C2 points after redeeming the returned unit %v, want 50", got)
	}
}
