package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCookiesAreSecureBehindATLSProxy: the binary serves plain HTTP only, so
// over TLS it is always behind a proxy that ends TLS and says so with
// X-Forwarded-Proto: https. There the session cookie, the sign-in form's
// CSRF cookie and the language cookie are Secure and the pages send HSTS,
// as when served over TLS directly; a Secure cookie set over plain HTTP is
// dropped by the browser, so a client that lies about the header harms only
// itself.
func TestCookiesAreSecureBehindATLSProxy(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	link := s.portalLink(t, "C1")
	proxied := func(method, u, body, cookie string) (*http.Response, page) {
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("X-Forwarded-Proto", "https")
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != "" { // a jar sends no Secure cookie over plain HTTP: a browser sends it over TLS
			req.Header.Set("Cookie", cookie)
		}
		res, err := s.client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, page{res.StatusCode, res.Header, string(b)}
	}
	res, linkPage := proxied("GET", link, "", "")
	csrf := linkPage.csrf(t)
	var signin string
	for _, ck := range res.Cookies() {
		if ck.Name == "__Host-tally_signin" {
			signin = ck.String()
		}
	}
	for _, r := range []struct {
		method          string
		u, body, cookie string
	}{
		{"GET", link, "", ""},
		{"POST", link, url.Values{"csrf": {csrf}}.Encode(), signin}, // the link's button: the session's cookie
		{"GET", s.srv.URL + "/portal/signin", "", ""},
		{"GET", s.srv.URL + "/console/signin?lang=en", "", ""},
	} {
		u := r.method + " " + r.u
		res, _ := proxied(r.method, r.u, r.body, r.cookie)
		if len(res.Cookies()) == 0 {
			t.Errorf("%s: no cookie set (%d)", u, res.StatusCode)
		}
		for _, ck := range res.Cookies() {
			if !ck.Secure {
				t.Errorf("%s behind a TLS proxy: cookie %s is not Secure", u, ck.Name)
			}
			if ck.Name != "tally_lang" && (!strings.HasPrefix(ck.Name, "__Host-") || ck.Path != "/" || ck.Domain != "") {
				t.Errorf("%s behind a TLS proxy: cookie %s, want a __Host- cookie for Path=/ without Domain", u, ck)
			}
		}
		if res.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s behind a TLS proxy: no Strict-Transport-Security", u)
		}
	}
}
