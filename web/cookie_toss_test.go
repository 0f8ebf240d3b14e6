package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestASiblingSubdomainCannotPlantASession: a page on a sibling subdomain
// (same site, another origin) may set a cookie for the whole parent domain,
// under any name but a __Host- one, which a browser keeps only from this
// very host. Over TLS a session (portal or console) and a sign-in token are
// read from their __Host- cookies only: the attacker's own live session id,
// or a token it chose, planted under the plain name, opens nothing and
// passes no form, on the pages or the console's CSV downloads; the same
// session id under the __Host- name is the attacker's session, as it was
// issued. (Found by review: a visitor was handed the attacker's portal.)
func TestASiblingSubdomainCannotPlantASession(t *testing.T) {
	s := newSiteOn(t, httptest.NewUnstartedServer, true, nil)
	s.history(t)
	attacker, _ := s.signedIn(t, "C2")
	portalID := s.cookieOf(t, attacker, "/portal", "__Host-tally_portal_session")
	console, _ := s.consoleSignedIn(t, "admin")
	consoleID := s.cookieOf(t, console, "/console", "__Host-tally_console_session")

	for _, r := range []struct {
		path, name, id string
		want           int
	}{
		{"/portal", "tally_portal_session", portalID, http.StatusUnauthorized},
		{"/portal", "__Host-tally_portal_session", portalID, http.StatusOK},
		{"/console", "tally_console_session", consoleID, http.StatusSeeOther},
		{"/console", "__Host-tally_console_session", consoleID, http.StatusOK},
		{"/console/csv/rebates?from=2026-03-01T00:00:00Z", "tally_console_session", consoleID, http.StatusUnauthorized},
		{"/console/csv/rebates?from=2026-03-01T00:00:00Z", "__Host-tally_console_session", consoleID, http.StatusOK},
	} {
		if p := s.withCookie(t, r.path, r.name, r.id); p.status != r.want {
			t.Errorf("GET %s over TLS with a live session's id as %s: %d, want %d", r.path, r.name, p.status, r.want)
		}
	}

	const tossed = "AttackerChosenAttackerChosenAttackerChosen0" // 43 characters, never issued
	link := s.portalLink(t, "C2")
	for u, key := range map[string]string{link: "", s.srv.URL + "/portal/signin": s.keys["customer"],
		s.srv.URL + "/console/signin": s.keys["admin"]} {
		form := url.Values{"csrf": {tossed}, "key": {key}}
		req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", "tally_signin="+tossed)
		res, err := s.client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 {
			t.Errorf("POST %s over TLS with a planted sign-in token: %d, cookies %v; want 403 and none",
				u, res.StatusCode, res.Header.Values("Set-Cookie"))
		}
	}
	var used int
	s.Scan(t, `SELECT count(*) FROM portal_links WHERE used_at IS NOT NULL`, &used)
	if used != 1 { // the attacker's own, spent signing in above
		t.Errorf("%d links spent, want 1: a planted token spent one", used)
	}
}
