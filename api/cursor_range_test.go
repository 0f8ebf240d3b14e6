package api

import (
	"io"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestRedemptionsCursorBeyondInt32IsRefusedAsInput: a cursor of the
// customer's redemptions list is an entry id (bigint). One above 2^31-1 is
// a malformed or foreign cursor and must be refused as input (422 invalid)
// or answered as an empty page, never a 500.
func TestRedemptionsCursorBeyondInt32IsRefusedAsInput(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C1", "name": "C"}})
	for _, cursor := range []string{"2147483648", "9223372036854775807"} {
		for _, key := range []string{"customer", "admin", "finance"} {
			r := h.do(call{method: "GET", path: "/v1/customers/C1/redemptions?cursor=" + cursor, key: key})
			if r.status >= 500 {
				t.Errorf("%s key, cursor=%s: status %d, want 200 or 422 invalid: %s", key, cursor, r.status, r.body)
			}
		}
	}
}

// TestPortalRedemptionsBeforeBeyondInt32IsNotAServerError: the
// portal's redemptions page takes ?before= the same way; a customer who
// edits the link gets a 500 page.
func TestPortalRedemptionsBeforeBeyondInt32IsNotAServerError(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "admin", body: map[string]any{"id": "C1", "name": "C"}})
	browser := h.portalBrowser(t, "C1")
	for _, before := range []string{"2147483647", "2147483648"} {
		res, err := browser.Get(h.srv.URL + "/portal/redemptions?before=" + before)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 && res.StatusCode != 422 {
			page := strings.Join(strings.Fields(string(b)), " ")
			t.Errorf("GET /portal/redemptions?before=%s: status %d, want 200 or 422: %s", before, res.StatusCode, page[:min(300, len(page))])
		}
	}
}

// TestRedeliverNotificationIDBeyondInt32IsNotAServerError: a
// partner redelivering "ntf_2147483648" (a well-formed id, as the feed's
// ids grow) to its own endpoint gets a 500 instead of 422
// unknown_notification.
func TestRedeliverNotificationIDBeyondInt32IsNotAServerError(t *testing.T) {
	h := newHarness(t)
	ep := h.expect(201, call{method: "POST", path: "/v1/webhooks", key: "partner",
		body: map[string]any{"url": "https://hooks.example.com/in", "types": []string{"points.earned"}}}).object(t)
	path := "/v1/webhooks/" + itoa(int64(ep["id"].(float64))) + "/redeliver"
	wantProblem(t, h.do(call{method: "POST", path: path, key: "partner",
		body: map[string]any{"notification_id": "ntf_2147483647"}}), 422, fault.UnknownNotification)
	wantProblem(t, h.do(call{method: "POST", path: path, key: "partner",
		body: map[string]any{"notification_id": "ntf_2147483648"}}), 422, fault.UnknownNotification)
}
