package api

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// opened is what a browser got: the status, the page's URL (after
// redirects) and its body.
type opened struct {
	status    int
	url, body string
}

// portalBrowser is a browser signed in to the portal as the customer, as a
// partner's app leads it there: the link, then its page's button.
func (h *harness) portalBrowser(t *testing.T, customer string) *http.Client {
	t.Helper()
	var link struct {
		URL string `json:"url"`
	}
	h.expect(201, call{method: "POST", path: "/v1/portal/sessions", key: "partner",
		body: map[string]any{"customer_id": customer}}).json(t, &link)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	page := visit(t)(browser.Get(link.URL))
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.body)
	if page.status != http.StatusOK || csrf == nil {
		t.Fatalf("opening the portal link: %d, want its page with a form: %.300s", page.status, page.body)
	}
	if p := visit(t)(browser.PostForm(link.URL, url.Values{"csrf": {csrf[1]}})); p.status != http.StatusOK ||
		!strings.HasSuffix(p.url, "/portal") {
		t.Fatalf("the portal link's button: %d at %s, want the portal", p.status, p.url)
	}
	return browser
}

// visit reads an answer whole, for a test t: visit(t)(client.Get(u)).
func visit(t *testing.T) func(*http.Response, error) opened {
	return func(res *http.Response, err error) opened {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return opened{res.StatusCode, res.Request.URL.String(), string(b)}
	}
}

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
		page := visit(t)(browser.Get(out.URL))
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page.body)
		if page.status != http.StatusOK || csrf == nil {
			t.Fatalf("%s: opening the link: %d, want its page with a form: %.300s", role, page.status, page.body)
		}
		// Its button opens the portal (the client follows the 303).
		if p := visit(t)(browser.PostForm(out.URL, url.Values{"csrf": {csrf[1]}})); p.status != http.StatusOK ||
			!strings.Contains(p.url, "/portal") || strings.Contains(p.url, "/enter/") {
			t.Errorf("%s: the link's button: %d at %s, want the portal", role, p.status, p.url)
		}
		if p := visit(t)(browser.Get(out.URL)); p.status != http.StatusGone {
			t.Errorf("%s: opening the link a second time: %d, want 410", role, p.status)
		}
	}
	wantProblem(t, h.do(call{method: "POST", path: "/v1/portal/sessions", key: "partner",
		body: map[string]any{"customer_id": "C9"}}), 422, fault.UnknownCustomer)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/portal/sessions", key: "partner", invalid: true,
		body: map[string]any{"customer_id": "C 1"}}), 422, fault.Invalid)
	wantProblem(t, h.do(call{method: "POST", path: "/v1/portal/sessions", key: "customer",
		body: map[string]any{"customer_id": "C1"}}), 403, fault.Forbidden)
}
