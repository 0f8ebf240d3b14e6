package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestBehindAProxyAtAPublicAddressTheAPIKnowsTLS: a proxy that ends TLS may
// reach the binary from a public address (a cloud load balancer, a CDN);
// its X-Forwarded-Proto: https is believed from there as from a private
// proxy's. A portal link asked for through it is https, and the console's
// CSV download reads the same __Host- session cookie the pages set through
// it. (echo v4.16.5 believes the header from private addresses only.)
func TestBehindAProxyAtAPublicAddressTheAPIKnowsTLS(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	viaProxy := func(method, path, body string, header map[string]string) (*http.Response, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = "35.191.10.20:53211" // a load balancer's public address
		req.Header.Set("X-Forwarded-Proto", "https")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.server.ServeHTTP(rec, req)
		res := rec.Result()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, body := viaProxy("POST", "/v1/portal/sessions", `{"customer_id": "C1"}`, map[string]string{
		"Authorization": "Bearer " + h.keys["partner"], "Content-Type": "application/json"})
	if res.StatusCode != http.StatusCreated || !strings.Contains(body, `"url":"https://`) {
		t.Errorf("a portal link asked for through a public TLS proxy: %d %s, want an https link", res.StatusCode, body)
	}

	res, body = viaProxy("GET", "/console/signin", "", nil)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || csrf == nil {
		t.Fatalf("the console's sign-in through a public TLS proxy: %d", res.StatusCode)
	}
	cookie := func(res *http.Response, name string) string {
		for _, ck := range res.Cookies() {
			if ck.Name == name {
				return ck.Name + "=" + ck.Value
			}
		}
		t.Fatalf("no cookie %s in %v", name, res.Header.Values("Set-Cookie"))
		return ""
	}
	form := url.Values{"csrf": {csrf[1]}, "key": {h.keys["finance"]}}.Encode()
	res, _ = viaProxy("POST", "/console/signin", form, map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie(res, "__Host-tally_signin")})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing in to the console through a public TLS proxy: %d", res.StatusCode)
	}
	session := cookie(res, "__Host-tally_console_session")
	res, body = viaProxy("GET", "/console/csv/rebates?from=2026-03-01T00:00:00Z", "", map[string]string{"Cookie": session})
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("the console's CSV download through a public TLS proxy with its session: %d %.200s", res.StatusCode, body)
	}
}
