package web_test

import (
	"net/http"
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
	c := s.client(t)
	link := s.portalLink(t, "C1")
	for _, u := range []string{link, s.srv.URL + "/portal/signin", s.srv.URL + "/console/signin?lang=en"} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if len(res.Cookies()) == 0 {
			t.Errorf("GET %s: no cookie set", u)
		}
		for _, ck := range res.Cookies() {
			if !ck.Secure {
				t.Errorf("GET %s behind a TLS proxy: cookie %s is not Secure", u, ck.Name)
			}
		}
		if res.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("GET %s behind a TLS proxy: no Strict-Transport-Security", u)
		}
	}
}
