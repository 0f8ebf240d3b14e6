package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestBehindAProxyAtAPublicAddressTheCookiesAreHostCookies: a proxy that
// ends TLS may reach the binary from a public address (a cloud load
// balancer, a CDN). Its X-Forwarded-Proto: https is believed as a private
// proxy's: the cookies are Secure __Host- cookies, the pages send HSTS,
// and a session planted under the plain name opens nothing. (Found by
// review: echo v4.16.5 believes the header from private addresses only,
// and the plain, plantable cookies were served.)
func TestBehindAProxyAtAPublicAddressTheCookiesAreHostCookies(t *testing.T) {
	s := newSite(t)
	s.Customer("C2")
	attacker, _ := s.signedIn(t, "C2")
	planted := s.cookieOf(t, attacker, "/portal", "tally_portal_session")
	viaProxy := func(path, cookie string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = "35.191.10.20:53211" // a load balancer's public address
		req.Header.Set("X-Forwarded-Proto", "https")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		s.srv.Config.Handler.ServeHTTP(rec, req)
		return rec.Result()
	}
	if res := viaProxy("/portal", "tally_portal_session="+planted); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /portal behind a public proxy with a session planted under the plain name: %d, want 401", res.StatusCode)
	}
	if res := viaProxy("/portal", "__Host-tally_portal_session="+planted); res.StatusCode != http.StatusOK {
		t.Errorf("GET /portal behind a public proxy with the session's __Host- cookie: %d, want 200", res.StatusCode)
	}
	res := viaProxy("/portal/signin", "")
	if len(res.Cookies()) == 0 {
		t.Error("GET /portal/signin behind a public proxy set no cookie")
	}
	for _, ck := range res.Cookies() {
		if !ck.Secure || !strings.HasPrefix(ck.Name, "__Host-") {
			t.Errorf("GET /portal/signin behind a public proxy: cookie %s, want a Secure __Host- cookie", ck)
		}
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("GET /portal/signin behind a public proxy: no Strict-Transport-Security")
	}
}

// TestACookieLeftAtTheOldPathDoesNotShadowANewSession: a browser may keep
// a session cookie of the name and path the sessions had before (tally_portal
// for Path=/portal, tally_console for /console), and sends the longer
// path's cookie first: a new session under that name was shadowed by the
// old one, the portal said "session ended" after every new link and the
// console asked to sign in again, forever. (Found by review.)
func TestACookieLeftAtTheOldPathDoesNotShadowANewSession(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	for _, side := range []string{"portal", "console"} {
		c := s.client(t)
		u, _ := url.Parse(s.srv.URL + "/" + side)
		c.Jar.SetCookies(u, []*http.Cookie{{Name: "tally_" + side, Value: "KeptFromBeforeKeptFromBeforeKeptFromBefore0",
			Path: "/" + side, HttpOnly: true}})
		var p page
		if side == "portal" {
			p = s.enter(t, c, s.portalLink(t, "C1"))
		} else {
			form := get(t, c, s.srv.URL+"/console/signin")
			p = post(t, c, s.srv.URL+"/console/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys["finance"]}})
		}
		if home := s.seeOther(t, c, p, "/"+side); home.status != http.StatusOK {
			t.Errorf("the %s after a new session, an old cookie kept for Path=/%s: %d, want 200", side, side, home.status)
		}
	}
}
