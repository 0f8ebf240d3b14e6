package api

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// TestPortalSessionIsAOneTimeLinkForOneCustomer: a partner (or admin) key
// gets a link on the server it called, expiring within minutes; opening it
// signs the browser in to the portal once; an unknown or malformed customer
// is refused.
func TestPortalSessionIsAOneTimeLinkForOneCustomer(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C"}})
	for _, role := range []string{"partner", "admin"} {
		before := time.Now()
		var out struct {
			CustomerID string    `json:"customer_id"`
			URL        string    `json:"url"`
			ExpiresAt  time.Time `json:"expires_at"`
		}
		h.expect(201, call{method: "POST", path: "/v1/portal/sessions", key: role,
			body: map[string]any{"customer_id": "C1"}}).json(t, &out)
		if out.CustomerID != "C1" || !strings.HasPrefix(out.URL, h.srv.URL+"/portal/enter/") {
			t.Errorf("%s: link %+v, want one into %s/portal/enter/", role, out, h.srv.URL)
		}
		if out.ExpiresAt.Before(before) || out.ExpiresAt.After(before.Add(5*time.Minute+time.Second)) {
			t.Errorf("%s: the link expires at %v, want within 5 minutes of %v", role, out.ExpiresAt, before)
		}
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar}
		for i, want := range []int{http.StatusOK, http.StatusGone} {
			res, err := browser.Get(out.URL)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("%s: opening the link a %d time: %d, want %d", role, i+1, res.StatusCode, want)
			}
		}
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/portal/sessions", key: "partner",
		body: map[string]any{"customer_id": "C9"}}), 422, fault.UnknownCustomer)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/portal/sessions", key: "partner", invalid: true,
		body: map[string]any{"customer_id": "C 1"}}), 422, fault.Invalid)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/portal/sessions", key: "customer",
		body: map[string]any{"customer_id": "C1"}}), 403, fault.Forbidden)
}
