package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// redemptionRows is each listed redemption of a page as
// space/id:points:status:cancellable:reason, and the page's next_cursor.
func redemptionRows(t *testing.T, r response) ([]string, any) {
	t.Helper()
	wantStatus(t, r, 200)
	page := r.object(t)
	var rows []string
	for _, it := range page["redemptions"].([]any) {
		m := it.(map[string]any)
		rows = append(rows, fmt.Sprintf("%s/%s:%s:%s:%v:%v", m["space"], m["redemption_id"], m["points"], m["status"],
			m["cancellable"], m["reason"]))
	}
	return rows, page["next_cursor"]
}

// TestCustomerRedemptionsListEveryRedemptionOfTheCustomerAndWhoMayCancelIt:
// C1's redemptions by C1's key and by the partner are listed, the latest
// first, C2's never; C1's key may cancel only its own not cancelled, an
// admin every one not cancelled, finance none; the list pages by cursor;
// another customer, a bad limit or cursor and an unknown customer are
// refused.
func TestCustomerRedemptionsListEveryRedemptionOfTheCustomerAndWhoMayCancelIt(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"C1", "C2"} {
		h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": id, "name": id}})
		h.expect(201, call{method: "POST", path: "/v1/events", key: "partner", body: shipment("e"+id, id, "S"+id, "100", time.Now().Add(-time.Minute))})
	}
	h.expect(201, call{method: "POST", path: "/v1/products", key: "admin", body: map[string]any{"sku": "pen", "name": "Pen",
		"kind": "standard", "points_price": "10"}})
	redeem := func(key, id, customer string, q int) {
		t.Helper()
		h.expect(201, call{method: "POST", path: "/v1/redemptions", key: key,
			body: map[string]any{"redemption_id": id, "customer_id": customer, "sku": "pen", "quantity": q}})
	}
	redeem("customer", "a", "C1", 1)
	// The same id in the partner's space, whose name its redemption answers.
	partnerSpace, _ := h.expect(201, call{method: "POST", path: "/v1/redemptions", key: "partner",
		body: map[string]any{"redemption_id": "a", "customer_id": "C1", "sku": "pen", "quantity": 2}}).object(t)["space"].(string)
	redeem("other", "b", "C2", 3)
	redeem("customer", "c", "C1", 4)
	h.expect(200, call{method: "POST", path: "/v1/redemptions/c/cancel", key: "customer"})
	if !strings.HasPrefix(partnerSpace, "partner:") {
		t.Fatalf("the partner's space %q", partnerSpace)
	}

	rows, next := redemptionRows(t, h.do(call{method: "GET", path: "/v1/customers/C1/redemptions", key: "customer"}))
	want := []string{
		"customer:C1/c:40:cancelled:false:already_cancelled",
		partnerSpace + "/a:20:redeemed:false:other_space",
		"customer:C1/a:10:redeemed:true:<nil>",
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) || next != nil {
		t.Errorf("C1's key lists\n %v (next %v)\nwant\n %v", rows, next, want)
	}
	rows, _ = redemptionRows(t, h.do(call{method: "GET", path: "/v1/customers/C1/redemptions", key: "admin"}))
	want[1] = partnerSpace + "/a:20:redeemed:true:<nil>"
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("an admin lists\n %v\nwant\n %v", rows, want)
	}
	rows, _ = redemptionRows(t, h.do(call{method: "GET", path: "/v1/customers/C1/redemptions", key: "finance"}))
	want[1], want[2] = partnerSpace+"/a:20:redeemed:false:other_space", "customer:C1/a:10:redeemed:false:other_space"
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("finance lists\n %v\nwant\n %v", rows, want)
	}
	rows, _ = redemptionRows(t, h.do(call{method: "GET", path: "/v1/customers/C2/redemptions", key: "other"}))
	if fmt.Sprint(rows) != "[customer:C2/b:30:redeemed:true:<nil>]" {
		t.Errorf("C2's key lists %v, want only its own", rows)
	}

	var ids []string
	path := "/v1/customers/C1/redemptions?limit=2"
	for pages := 1; ; pages++ {
		rows, next := redemptionRows(t, h.do(call{method: "GET", path: path, key: "customer"}))
		ids = append(ids, rows...)
		if next == nil {
			if pages != 2 {
				t.Errorf("%d pages of 2 for 3 redemptions", pages)
			}
			break
		}
		path = "/v1/customers/C1/redemptions?limit=2&cursor=" + next.(string)
	}
	if len(ids) != 3 || !strings.HasPrefix(ids[2], "customer:C1/a:") {
		t.Errorf("paged by 2: %v", ids)
	}

	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/C2/redemptions", key: "customer"}), 403, fault.Forbidden)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/C1/redemptions?limit=0", key: "customer", invalid: true}), 422, fault.Invalid)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/C1/redemptions?cursor=x", key: "customer"}), 422, fault.Invalid)
	wantProblem(t, h.do(call{method: "GET", path: "/v1/customers/ghost/redemptions", key: "admin"}), 422, fault.UnknownCustomer)
}
