package web_test

import (
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
	linkPage := s.client(t)
	csrf := get(t, linkPage, link).csrf(t)
	for _, r := range []struct {
		c       *http.Client
		method  string
		u, body string
	}{
		{s.client(t), "GET", link, ""},
		{linkPage, "POST", link, url.Values{"csrf": {csrf}}.Encode()}, // the link's button: the session's cookie
		{s.client(t), "GET", s.srv.URL + "/portal/signin", ""},
		{s.client(t), "GET", s.srv.URL + "/console/signin?lang=en", ""},
	} {
		u := r.method + " " + r.u
		req, _ := http.NewRequest(r.method, r.u, strings.NewReader(r.body))
		req.Header.Set("X-Forwarded-Proto", "https")
		if r.body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := r.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if len(res.Cookies()) == 0 {
			t.Errorf("%s: no cookie set", u)
		}
		for _, ck := range res.Cookies() {
			if !ck.Secure {
				t.Errorf("%s behind a TLS proxy: cookie %s is not Secure", u, ck.Name)
			}
		}
		if res.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("%s behind a TLS proxy: no Strict-Transport-Security", u)
		}
	}
}
