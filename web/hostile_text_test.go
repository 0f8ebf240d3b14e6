package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostile is markup that would run script if a page printed it raw: a
// script element, and an attribute break-out into an image with onerror.
const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`

// apiAs calls the API with the role's key and answers the status and body.
func (s *site) apiAs(t *testing.T, role, method, path string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.srv.URL+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+s.keys[role])
	req.Header.Set("Content-Type", "application/json")
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

// TestTextAnAdminWritesIsEscapedOnThePages: a product name and a campaign
// name full of markup, written through the API, show on the catalogue, the
// confirmation and the statement as text: no page (nor the redemption)
// carries the markup itself, each carries it escaped, and each forbids
// script by its CSP.
func TestTextAnAdminWritesIsEscapedOnThePages(t *testing.T) {
	s := newSite(t)
	s.history(t)
	if st, b := s.apiAs(t, "admin", "POST", "/v1/products", map[string]any{"sku": "EVIL", "name": hostile,
		"kind": "standard", "points_price": "100"}); st != http.StatusCreated {
		t.Fatalf("creating the product: %d %s", st, b)
	}
	// A campaign starts ahead of its creation: created as of an hour before.
	now := s.Clock.Now()
	s.Clock.Set(march(1, 0).Add(-time.Hour))
	if st, b := s.apiAs(t, "admin", "POST", "/v1/campaigns", map[string]any{"id": "SPRING", "name": hostile,
		"starts_at": march(1, 0), "ends_at": march(31, 0), "multiplier": "2"}); st != http.StatusCreated {
		t.Fatalf("creating the campaign: %d %s", st, b)
	}
	s.Clock.Set(now)
	s.Ship("C1", "S-CAMPAIGN", "10.00", march(14, 15))
	c, home := s.signedIn(t, "C1")
	redeemed := s.seeOther(t, c, post(t, c, s.srv.URL+"/portal/redeem", url.Values{"csrf": {home.csrf(t)}, "sku": {"EVIL"},
		"quantity": {"1"}, "redemption_id": {"web-evil"}}), "/portal/redemptions/web-evil?done=redeemed")
	escaped := regexp.MustCompile(`&lt;script&gt;alert\(1\)&lt;/script&gt;(&#34;|&quot;)&gt;&lt;img src=x onerror=alert\(2\)&gt;`)
	pages := map[string]page{"the redemption": redeemed}
	for _, path := range []string{"/portal/catalog", "/portal/redeem/EVIL", "/portal/statement", "/portal/redemptions"} {
		pages[path] = get(t, c, s.srv.URL+path)
	}
	for name, p := range pages {
		if p.status != http.StatusOK {
			t.Errorf("%s: %d", name, p.status)
		}
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, "<img src=x") {
			t.Errorf("%s prints the product's markup raw", name)
		}
		if name != "the redemption" && !escaped.MatchString(p.body) { // the redemption names its SKU
			t.Errorf("%s does not show the product's name as text", name)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: CSP %q lets a script run", name, csp)
		}
	}
}
