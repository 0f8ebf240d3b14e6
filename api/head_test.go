package api

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHeadIsGetWithoutTheBody: HEAD answers what GET answers, status and
// headers, with no body, on the API and the pages alike (RFC 9110 has every
// server support it; a monitor's HEAD /healthz got 405, a page's HEAD the
// signed-out page or 404).
func TestHeadIsGetWithoutTheBody(t *testing.T) {
	h := newHarness(t)
	h.expect(201, call{method: "POST", path: "/v1/customers", key: "partner", body: map[string]any{"id": "C1", "name": "C1"}})
	ask := func(method, path, key string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, h.srv.URL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+h.keys[key])
		}
		res, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for _, c := range []struct{ path, key string }{
		{"/healthz", ""}, {"/readyz", ""}, {"/v1/customers/C1", "admin"}, {"/v1/customers/C1", "other"},
		{"/v1/events", "partner"}, {"/", ""}, {"/portal/signin", ""}, {"/console/signin", ""}, {"/portal", ""},
		{"/static/style.css", ""}, {"/openapi.yaml", ""},
	} {
		get, body := ask("GET", c.path, c.key)
		head, none := ask("HEAD", c.path, c.key)
		if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || none != "" {
			t.Errorf("HEAD %s (%s): %d %q, %d bytes; GET: %d %q", c.path, c.key, head.StatusCode, head.Header.Get("Content-Type"),
				len(none), get.StatusCode, get.Header.Get("Content-Type"))
		}
		if get.StatusCode == 200 && strings.TrimSpace(body) == "" {
			t.Errorf("GET %s answered no body", c.path)
		}
	}
}
