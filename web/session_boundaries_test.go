package web_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// consoleSignedIn signs in to the console with the role's key in a fresh
// client, and answers the client and the page it lands on.
func (s *site) consoleSignedIn(t *testing.T, role string) (*http.Client, page) {
	t.Helper()
	c := s.client(t)
	form := get(t, c, s.srv.URL+"/console/signin")
	if p := post(t, c, s.srv.URL+"/console/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys[role]}}); p.status != http.StatusSeeOther {
		t.Fatalf("%s signing in to the console: %d", role, p.status)
	}
	return c, get(t, c, s.srv.URL+"/console")
}

// cookieOf is the value of the client's cookie name for the path.
func (s *site) cookieOf(t *testing.T, c *http.Client, path, name string) string {
	t.Helper()
	u, _ := url.Parse(s.srv.URL + path)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	t.Fatalf("no cookie %s for %s", name, path)
	return ""
}

// withCookie is a GET of path carrying only the named cookie.
func (s *site) withCookie(t *testing.T, path, name, value string) page {
	t.Helper()
	req, _ := http.NewRequest("GET", s.srv.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	c := s.client(t)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return page{status: res.StatusCode, header: res.Header}
}

// TestASessionOpensOnlyItsOwnSide: a portal session's id presented as the
// console's cookie (or on a CSV download) and a console session's id
// presented as the portal's open nothing; neither opens the bearer-only
// API; signing out one side leaves the other signed in, and one side's
// CSRF token does not sign out the other.
func TestASessionOpensOnlyItsOwnSide(t *testing.T) {
	s := newSite(t)
	s.history(t)
	portal, home := s.signedIn(t, "C1")
	console, tb := s.consoleSignedIn(t, "admin")
	if tb.status != http.StatusOK {
		t.Fatalf("the console after signing in: %d", tb.status)
	}
	pid := s.cookieOf(t, portal, "/portal", "tally_portal_session")
	cid := s.cookieOf(t, console, "/console", "tally_console_session")
	if p := s.withCookie(t, "/console", "tally_console_session", pid); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signin" {
		t.Errorf("a portal session id as the console's cookie: %d to %q, want 303 to sign in", p.status, p.header.Get("Location"))
	}
	if p := s.withCookie(t, "/console/csv/rebates?from=2026-03-01T00:00:00Z", "tally_console_session", pid); p.status != http.StatusUnauthorized {
		t.Errorf("a portal session id on a CSV download: %d, want 401", p.status)
	}
	if p := s.withCookie(t, "/portal", "tally_portal_session", cid); p.status != http.StatusUnauthorized {
		t.Errorf("an admin's console session id as the portal's cookie: %d, want 401", p.status)
	}
	for _, ck := range []struct{ name, value string }{{"tally_console_session", cid}, {"tally_portal_session", pid}} {
		for _, path := range []string{"/v1/reports/rebates?from=2026-03-01T00:00:00Z", "/v1/customers/C1/balances"} {
			if p := s.withCookie(t, path, ck.name, ck.value); p.status != http.StatusUnauthorized {
				t.Errorf("GET %s with only the %s cookie: %d, want 401", path, ck.name, p.status)
			}
		}
	}
	if p := post(t, portal, s.srv.URL+"/portal/signout", url.Values{"csrf": {tb.csrf(t)}}); p.status != http.StatusForbidden {
		t.Errorf("the portal's sign-out with the console's token: %d, want 403", p.status)
	}
	if p := post(t, portal, s.srv.URL+"/portal/signout", url.Values{"csrf": {home.csrf(t)}}); p.status != http.StatusSeeOther {
		t.Fatalf("the portal's sign-out: %d", p.status)
	}
	if p := get(t, console, s.srv.URL+"/console"); p.status != http.StatusOK {
		t.Errorf("the console after the portal signed out: %d, want 200", p.status)
	}
}

// TestSessionIdsAreRandomAndStoredHashed: each session id is 32 random
// bytes (43 base64url characters, all different), the table keeps its
// SHA-256 only, and neither the id nor the portal link's token is found
// in any column.
func TestSessionIdsAreRandomAndStoredHashed(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	seen := map[string]bool{}
	var tokens []string
	for range 8 {
		link := s.portalLink(t, "C1")
		tokens = append(tokens, link[strings.LastIndex(link, "/")+1:])
		c, _ := s.signedIn(t, "C1")
		id := s.cookieOf(t, c, "/portal", "tally_portal_session")
		if len(id) != 43 || seen[id] {
			t.Fatalf("session id %q: want 43 characters, each id new", id)
		}
		seen[id] = true
		sum := sha256.Sum256([]byte(id))
		var n int
		if err := s.Pool.QueryRow(s.Ctx, `SELECT count(*) FROM web_sessions WHERE id_hash = $1`, sum[:]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("session id's SHA-256 found %d times in web_sessions, want 1", n)
		}
		tokens = append(tokens, id)
	}
	for _, q := range []string{`SELECT concat_ws(' ', encode(id_hash, 'escape'), encode(id_hash, 'hex'), csrf, customer_id, key_id, role) FROM web_sessions`,
		`SELECT concat_ws(' ', encode(token_hash, 'escape'), encode(token_hash, 'hex'), customer_id, key_id) FROM portal_links`} {
		rows, err := s.Pool.Query(s.Ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var row string
			if err := rows.Scan(&row); err != nil {
				t.Fatal(err)
			}
			for _, tok := range tokens {
				if strings.Contains(row, tok) {
					t.Errorf("a secret is stored as it is: %q", row)
				}
			}
		}
		rows.Close()
	}
}

// TestErrorPagesAndMalformedQueriesKeepTheHeaders: refusals (unknown page,
// spent link, signed out, no CSRF token, a malformed or huge query) are
// pages with the same CSP, framing ban and no-store as the others, and a
// malformed query is a 4xx, never a 500.
func TestErrorPagesAndMalformedQueriesKeepTheHeaders(t *testing.T) {
	s := newSite(t)
	s.history(t)
	portal, _ := s.signedIn(t, "C1")
	console, _ := s.consoleSignedIn(t, "finance")
	huge := strings.Repeat("9", 100000)
	check := func(what string, p page, want int) {
		t.Helper()
		if p.status != want {
			t.Errorf("%s: %d, want %d", what, p.status, want)
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", what, csp)
		}
		if p.header.Get("X-Frame-Options") != "DENY" || !strings.Contains(p.header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: X-Frame-Options %q, Cache-Control %q", what, p.header.Get("X-Frame-Options"), p.header.Get("Cache-Control"))
		}
	}
	anon := s.client(t)
	check("an unknown page", get(t, portal, s.srv.URL+"/portal/nowhere/at/all"), http.StatusNotFound)
	check("a PUT to the portal", func() page {
		req, _ := http.NewRequest("PUT", s.srv.URL+"/portal", nil)
		res, err := portal.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return page{status: res.StatusCode, header: res.Header}
	}(), http.StatusNotFound)
	check("an unknown link", get(t, anon, s.srv.URL+"/portal/enter/"+strings.Repeat("A", 43)), http.StatusGone)
	check("the portal signed out", get(t, anon, s.srv.URL+"/portal"), http.StatusUnauthorized)
	check("a redeem without its token", post(t, portal, s.srv.URL+"/portal/redeem", url.Values{"sku": {"MUG"}}), http.StatusForbidden)
	check("a sign-in with a token but not its cookie (a cross-site post)",
		post(t, anon, s.srv.URL+"/console/signin", url.Values{"csrf": {strings.Repeat("A", 43)}, "key": {s.keys["admin"]}}), http.StatusForbidden)
	for path, c := range map[string]*http.Client{
		"/portal/statement?before=-1":                   portal,
		"/portal/statement?before=" + huge:              portal,
		"/portal/statement?before=99999999999999999999": portal,
		"/portal/redemptions?before=-1":                 portal,
		"/portal/redemptions?before=" + huge:            portal,
		"/console/rebates?from=0001-01&to=9999-12":      console,
		"/console/rebates?from=2026-13":                 console,
		"/console/points?from=2026-05&to=2026-01":       console,
		"/console/points?to=" + huge:                    console,
		"/console?as_of=" + huge:                        console,
		"/console?as_of=2026-02-30T25:61":               console,
		"/console/segments?month=" + huge:               console,
		"/console/segments?month=2026-00":               console,
	} {
		check("GET "+path[:min(len(path), 60)], get(t, c, s.srv.URL+path), http.StatusUnprocessableEntity)
	}
	for _, path := range []string{"/portal?lang=" + url.QueryEscape(`"><script>alert(1)</script>`), "/portal?lang=" + huge} {
		p := get(t, portal, s.srv.URL+path)
		check("GET "+path[:40], p, http.StatusOK)
		if !strings.Contains(p.body, `<html lang="zh-CN">`) || bytes.Contains([]byte(p.body), []byte("<script")) {
			t.Errorf("GET %.40s: not the default language, or the parameter printed raw", path)
		}
	}
}
