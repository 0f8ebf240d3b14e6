package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/api"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/web"
)

// TestPortalLinksAreBuiltOnThePublicURLNotTheHostHeader: with a public URL
// configured (TALLY_PUBLIC_URL), a portal link points there whatever Host
// the request names, so a forged Host cannot send a customer's one-time
// link to another site.
func TestPortalLinksAreBuiltOnThePublicURLNotTheHostHeader(t *testing.T) {
	e := servicetest.New(t)
	pages := web.New(web.Config{Pool: e.Pool, Ledger: e.Ledger, Loyalty: e.Loyalty, Catalog: e.Catalog,
		Prepaid: e.Prepaid, Finance: e.Finance})
	srv := httptest.NewServer(api.New(api.Config{Ledger: e.Ledger, Loyalty: e.Loyalty, Catalog: e.Catalog,
		Prepaid: e.Prepaid, Finance: e.Finance, OpenAPI: tally.OpenAPI, Pages: pages,
		PublicURL: "https://loyalty.example.com/"}))
	t.Cleanup(srv.Close)
	e.Customer("C1")
	secret, _, err := e.Ledger.CreateKey(e.Ctx, "app", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/portal/sessions", strings.NewReader(`{"customer_id":"C1"}`))
	req.Host = "evil.example"
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /v1/portal/sessions: %d %v", res.StatusCode, err)
	}
	if !strings.HasPrefix(out.URL, "https://loyalty.example.com/portal/enter/") {
		t.Errorf("link %q, want it on https://loyalty.example.com/portal/enter/", out.URL)
	}
}

// TestAFormFromThePublicURLIsThisSites: behind a proxy that forwards
// another Host than the public one (TALLY_PUBLIC_URL), a form a browser
// posts from the public URL, with Origin and without Sec-Fetch-Site, is
// the site's own; from any other origin it is refused.
func TestAFormFromThePublicURLIsThisSites(t *testing.T) {
	for _, c := range []struct {
		origin string
		want   int
	}{{"https://loyalty.example.com", http.StatusSeeOther}, {"https://evil.example.com", http.StatusForbidden}} {
		e := servicetest.New(t)
		pages := web.New(web.Config{Pool: e.Pool, Ledger: e.Ledger, Loyalty: e.Loyalty, Catalog: e.Catalog,
			Prepaid: e.Prepaid, Finance: e.Finance, PublicURL: "https://loyalty.example.com"})
		srv := httptest.NewServer(pages)
		t.Cleanup(srv.Close)
		e.Customer("C1")
		secret, _, err := e.Ledger.CreateKey(e.Ctx, "C1", ledger.RoleCustomer, "C1")
		if err != nil {
			t.Fatal(err)
		}
		const token = "SignInTokenSignInTokenSignInTokenSignInToke" // 43 characters
		req, _ := http.NewRequest("POST", srv.URL+"/portal/signin", strings.NewReader(url.Values{"csrf": {token}, "key": {secret}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", "tally_signin="+token)
		req.Header.Set("Origin", c.origin)
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("a sign-in posted from %s to %s: %d, want %d", c.origin, srv.URL, res.StatusCode, c.want)
		}
	}
}
