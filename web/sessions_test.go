package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/web"
)

// signedIn opens a portal link for the customer in a fresh client and
// answers the client and the overview page.
func (s *site) signedIn(t *testing.T, customer string) (*http.Client, page) {
	t.Helper()
	c := s.client(t)
	p := s.enter(t, c, s.portalLink(t, customer))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/portal" {
		t.Fatalf("opening the link: %d to %q, want 303 to /portal", p.status, p.header.Get("Location"))
	}
	home := get(t, c, s.srv.URL+"/portal")
	if home.status != 200 {
		t.Fatalf("portal after the link: %d", home.status)
	}
	return c, home
}

// TestSessionCookieIsHttpOnlySameSiteAndSecureUnderTLS: the link's session
// cookie is HttpOnly, SameSite=Lax, for Path=/ with no Domain, Secure and
// named __Host- when served over TLS and neither otherwise, and lasts as
// long as the browser's session.
func TestSessionCookieIsHttpOnlySameSiteAndSecureUnderTLS(t *testing.T) {
	for _, tls := range []bool{false, true} {
		s := newSiteOn(t, httptest.NewUnstartedServer, tls, nil)
		s.Customer("C1")
		p := s.enter(t, s.client(t), s.portalLink(t, "C1"))
		res := &http.Response{Header: p.header}
		name := "tally_portal_session"
		if tls {
			name = "__Host-tally_portal_session"
		}
		var ck *http.Cookie
		for _, c := range res.Cookies() {
			if c.Name == name {
				ck = c
			}
		}
		if ck == nil {
			t.Fatalf("tls %v: no session cookie %s in %v", tls, name, res.Header["Set-Cookie"])
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.Secure != tls ||
			ck.MaxAge != 0 || !ck.Expires.IsZero() {
			t.Errorf("tls %v: cookie %s, want HttpOnly, SameSite=Lax, Path=/, no Domain, Secure only under TLS, no expiry",
				tls, res.Header.Get("Set-Cookie"))
		}
	}
}

// TestPortalLinkExpiresWithinMinutes: a link not opened within
// web.LinkTTL is refused, and sets no session.
func TestPortalLinkExpiresWithinMinutes(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	link := s.portalLink(t, "C1")
	c := s.client(t)
	form := get(t, c, link) // its page, in time; its button, too late
	s.Clock.Add(web.LinkTTL)
	if p := get(t, c, link); p.status != http.StatusGone || len(p.header.Values("Set-Cookie")) != 0 {
		t.Errorf("link opened at its expiry: %d, cookies %v; want 410 and none", p.status, p.header.Values("Set-Cookie"))
	}
	if p := post(t, c, link, url.Values{"csrf": {form.csrf(t)}}); p.status != http.StatusGone || len(p.header.Values("Set-Cookie")) != 0 {
		t.Errorf("link's button tapped at its expiry: %d, cookies %v; want 410 and none", p.status, p.header.Values("Set-Cookie"))
	}
	if p := get(t, c, s.srv.URL+"/portal/enter/not-a-token"); p.status != http.StatusGone {
		t.Errorf("an unknown token: %d, want 410", p.status)
	}
}

// TestSessionEndsWhenIdle: a session that makes no request for
// web.PortalIdle ends; one that keeps making requests lives on.
func TestSessionEndsWhenIdle(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	c, _ := s.signedIn(t, "C1")
	for range 3 {
		s.Clock.Add(web.PortalIdle - time.Second)
		if p := get(t, c, s.srv.URL+"/portal"); p.status != 200 {
			t.Fatalf("a request within the idle timeout: %d, want 200", p.status)
		}
	}
	s.Clock.Add(web.PortalIdle)
	if p := get(t, c, s.srv.URL+"/portal"); p.status != http.StatusUnauthorized {
		t.Errorf("a request after the idle timeout: %d, want 401", p.status)
	}
}

// TestSignOutRevokesTheSession: signing out ends the session on the
// server, so the old cookie no longer works, and clears the cookie.
func TestSignOutRevokesTheSession(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	c, home := s.signedIn(t, "C1")
	u, _ := url.Parse(s.srv.URL + "/portal")
	old := c.Jar.Cookies(u)
	p := post(t, c, s.srv.URL+"/portal/signout", url.Values{"csrf": {home.csrf(t)}})
	if p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Set-Cookie"), "tally_portal_session=;") {
		t.Errorf("sign out: %d, Set-Cookie %q; want 303 clearing the cookie", p.status, p.header.Get("Set-Cookie"))
	}
	replay := s.client(t)
	replay.Jar.SetCookies(u, old)
	if p := get(t, replay, s.srv.URL+"/portal"); p.status != http.StatusUnauthorized {
		t.Errorf("the signed-out session's cookie: %d, want 401", p.status)
	}
}

// TestFormsWithoutTheirCSRFTokenAreRefused: every form post of a session
// (redeem, cancel, sign out) and the sign-in forms are refused without the
// token, or with another session's, and nothing is written.
func TestFormsWithoutTheirCSRFTokenAreRefused(t *testing.T) {
	s := newSite(t)
	s.history(t)
	c, home := s.signedIn(t, "C1")
	_, other := s.signedIn(t, "C2")
	r, err := s.Redeem("C1", "MUG", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", other.csrf(t), home.csrf(t) + "x"} {
		for path, form := range map[string]url.Values{
			"/portal/redeem": {"sku": {"MUG"}, "quantity": {"1"}, "redemption_id": {"web-x"}},
			"/portal/redemptions/" + r.ID + "/cancel": {},
			"/portal/signout":                         {},
		} {
			form.Set("csrf", token)
			if p := post(t, c, s.srv.URL+path, form); p.status != http.StatusForbidden {
				t.Errorf("POST %s with token %q: %d, want 403", path, token, p.status)
			}
		}
	}
	if got := s.Balances(t, "C1").Points.Available; got != 2748-500 {
		t.Errorf("available %d after the refused forms, want 2,248: something was written", got)
	}
	if p := get(t, c, s.srv.URL+"/portal"); p.status != 200 {
		t.Errorf("the session after a refused sign-out: %d, want 200", p.status)
	}
	// The sign-in forms carry a token of their own, before any session.
	for _, side := range []string{"portal", "console"} {
		fresh := s.client(t)
		get(t, fresh, s.srv.URL+"/"+side+"/signin")
		if p := post(t, fresh, s.srv.URL+"/"+side+"/signin", url.Values{"key": {s.keys["admin"]}}); p.status != http.StatusForbidden {
			t.Errorf("%s sign-in without its token: %d, want 403", side, p.status)
		}
	}
}

// TestPortalActsForItsOwnCustomerOnly: with C1's session, C2's redemption
// (made in C2's own session) cannot be cancelled, and a customer id
// smuggled into a URL or a form changes nothing: every page shows C1's
// figures and a redemption is C1's.
func TestPortalActsForItsOwnCustomerOnly(t *testing.T) {
	s := newSite(t)
	s.history(t)
	s.MoneyAt(t, "deposit", "D-C2", "C2", "5000.00", march(14, 11)) // 3% -> 150.00
	s.Ship("C2", "S-C2", "600.00", march(14, 12))                   // C2: 60 + 600 points
	c, home := s.signedIn(t, "C1")
	c2, theirs := s.signedIn(t, "C2")
	s.seeOther(t, c2, post(t, c2, s.srv.URL+"/portal/redeem", url.Values{"csrf": {theirs.csrf(t)}, "sku": {"MUG"},
		"quantity": {"1"}, "redemption_id": {"web-theirs"}}), "/portal/redemptions/web-theirs?done=redeemed")
	if got := s.Balances(t, "C2").Points.Available; got != 660-500 {
		t.Fatalf("C2 holds %d available points after redeeming, want 160", got)
	}
	if p := post(t, c, s.srv.URL+"/portal/redemptions/web-theirs/cancel", url.Values{"csrf": {home.csrf(t)}}); p.status != http.StatusNotFound {
		t.Errorf("C1 cancelling C2's redemption: %d, want 404", p.status)
	}
	if got := s.Balances(t, "C2").Points.Available; got != 160 {
		t.Errorf("C2 holds %d available points after C1 tried to cancel their redemption, want 160 still", got)
	}
	if p := get(t, c, s.srv.URL+"/portal/redemptions/web-theirs"); p.status != http.StatusNotFound {
		t.Errorf("C1 opening C2's redemption: %d, want 404", p.status)
	}
	if p := get(t, c, s.srv.URL+"/portal/redemptions?customer_id=C2"); p.status != 200 || strings.Contains(p.body, "<tbody>") {
		t.Errorf("C1's redemptions, C1 having none, with customer_id=C2: %d, lists some", p.status)
	}
	for _, path := range []string{"/portal", "/portal/prepaid", "/portal/statement", "/portal/catalog", "/portal/redemptions"} {
		p := get(t, c, s.srv.URL+path+"?customer_id=C2&id=C2&customer=C2")
		if p.status != 200 || strings.Contains(p.body, "5,000.00") || strings.Contains(p.body, "150.00") {
			t.Errorf("GET %s?customer_id=C2: %d, shows C2's deposit or rebate", path, p.status)
		}
	}
	s.seeOther(t, c, post(t, c, s.srv.URL+"/portal/redeem?customer_id=C2", url.Values{"csrf": {home.csrf(t)}, "sku": {"MUG"},
		"quantity": {"1"}, "redemption_id": {"web-mine"}, "customer_id": {"C2"}}), "/portal/redemptions/web-mine?done=redeemed")
	if c1, c2 := s.Balances(t, "C1").Points.Available, s.Balances(t, "C2").Points.Available; c1 != 2748-500 || c2 != 160 {
		t.Errorf("after C1 redeemed with customer_id=C2 smuggled in: C1 %d, C2 %d available; want 2,248 and 160", c1, c2)
	}
}

// TestPagesSendAStrictContentSecurityPolicy: no script, no inline style,
// no framing, forms only to the site; and the pages load no script.
func TestPagesSendAStrictContentSecurityPolicy(t *testing.T) {
	s := newSite(t)
	s.history(t)
	c, _ := s.signedIn(t, "C1")
	for _, path := range []string{"/portal", "/portal/statement", "/portal/catalog", "/portal/prepaid", "/portal/redeem/MUG", "/portal/redemptions",
		"/console/signin", "/portal/signin"} {
		p := get(t, c, s.srv.URL+path)
		csp := p.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "script-src") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q allows script or inline code", path, csp)
		}
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, " style=") {
			t.Errorf("%s: the page has a script or an inline style", path)
		}
	}
}

// TestLanguageFollowsAcceptLanguageAndTheSwitch: Chinese by default, English
// when the browser prefers it, and the switch wins and is remembered.
func TestLanguageFollowsAcceptLanguageAndTheSwitch(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	c, home := s.signedIn(t, "C1")
	if !strings.Contains(home.body, `<html lang="zh-CN">`) {
		t.Errorf("no Accept-Language: not Chinese")
	}
	for header, want := range map[string]string{"en-US,en;q=0.9,zh;q=0.8": "en", "zh-TW,en;q=0.5": "zh-CN", "fr,de": "zh-CN"} {
		req, _ := http.NewRequest("GET", s.srv.URL+"/portal", nil)
		req.Header.Set("Accept-Language", header)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(b), `<html lang="`+want+`">`) {
			t.Errorf("Accept-Language %q: not %s", header, want)
		}
	}
	if p := get(t, c, s.srv.URL+"/portal?lang=en"); !strings.Contains(p.body, `<html lang="en">`) {
		t.Errorf("?lang=en: not English")
	}
	if p := get(t, c, s.srv.URL+"/portal/catalog"); !strings.Contains(p.body, `<html lang="en">`) {
		t.Errorf("the switch to English is not remembered")
	}
}

// TestCustomerKeySignsInToItsOwnPortal: a customer key opens a session for
// its own customer; a finance key cannot sign in to the portal.
func TestCustomerKeySignsInToItsOwnPortal(t *testing.T) {
	s := newSite(t)
	s.history(t)
	c := s.client(t)
	form := get(t, c, s.srv.URL+"/portal/signin")
	if p := post(t, c, s.srv.URL+"/portal/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys["finance"]}}); p.status != http.StatusForbidden {
		t.Errorf("a finance key signing in to the portal: %d, want 403", p.status)
	}
	if p := post(t, c, s.srv.URL+"/portal/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys["customer"]}}); p.status != http.StatusSeeOther {
		t.Fatalf("C1's key signing in: %d, want 303", p.status)
	}
	if p := get(t, c, s.srv.URL+"/portal"); p.status != 200 || !strings.Contains(p.body, `id="points-balance">3,248<`) {
		t.Errorf("C1's portal after signing in with its key: %d, without C1's 3,248 points", p.status)
	}
}

// TestAPortalLinkOutlivesItsPreviews: opening a link shows its page and
// spends nothing, so an app that fetches the link to preview it (as chat
// and mail apps do) leaves it to its customer; the page's button spends
// it. A button pressed without the page's token (a form on another site,
// whose POST carries none of this site's Lax cookies) is refused and spends
// nothing either.
func TestAPortalLinkOutlivesItsPreviews(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	link := s.portalLink(t, "C1")
	for range 3 {
		preview := s.client(t)
		p := get(t, preview, link)
		if p.status != http.StatusOK {
			t.Fatalf("a preview of the link: %d, want 200", p.status)
		}
		for _, ck := range (&http.Response{Header: p.header}).Cookies() {
			if ck.Name == "tally_portal_session" {
				t.Errorf("a preview of the link set a session cookie: %s", ck)
			}
		}
	}
	forged := s.client(t)
	token := get(t, s.client(t), link).csrf(t) // a token of another browser's page
	for _, form := range []url.Values{{}, {"csrf": {token}}} {
		if p := post(t, forged, link, form); p.status != http.StatusForbidden || p.header.Get("Set-Cookie") != "" {
			t.Errorf("the button without the page's token (%v): %d, cookies %v; want 403 and none", form, p.status, p.header.Values("Set-Cookie"))
		}
	}
	var used int
	s.Scan(t, `SELECT count(*) FROM portal_links WHERE used_at IS NOT NULL`, &used)
	if used != 0 {
		t.Fatalf("%d links spent by previews and refused buttons, want none", used)
	}
	c, home := s.signedIn(t, "C1") // a new link, spent
	_ = home
	if p := s.enter(t, c, link); p.status != http.StatusSeeOther || p.header.Get("Location") != "/portal" {
		t.Errorf("the previewed link, then opened: %d to %q, want 303 to /portal", p.status, p.header.Get("Location"))
	}
	if p := get(t, s.client(t), link); p.status != http.StatusGone {
		t.Errorf("the link once spent: %d, want 410", p.status)
	}
}

// TestAFormFromAnotherOriginIsRefused: a sibling subdomain's page (the
// same site, so even Strict cookies go with it) may set a sign-in cookie
// for this one and post its value as the form's token: the token matches,
// yet the form is not this site's. Any form posted from another origin, as
// the browser tells (Sec-Fetch-Site, or Origin), is refused and changes
// nothing; the same form from the site's own page works. (Found by
// review: a portal link was spent and its visitor signed in to the
// attacker's portal.)
func TestAFormFromAnotherOriginIsRefused(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	const tossed = "AttackerChosenAttackerChosenAttackerChosen0" // 43 characters, never issued
	post := func(u string, form url.Values, header map[string]string) page {
		req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", "tally_signin="+tossed)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := s.client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return page{res.StatusCode, res.Header, string(b)}
	}
	link := s.portalLink(t, "C1")
	for _, from := range []map[string]string{
		{"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example.com"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example.com"}, // a browser without Sec-Fetch-Site
	} {
		for _, u := range []string{link, s.srv.URL + "/portal/signin", s.srv.URL + "/console/signin"} {
			form := url.Values{"csrf": {tossed}, "key": {s.keys["finance"]}}
			if p := post(u, form, from); p.status != http.StatusForbidden || len(p.header.Values("Set-Cookie")) != 0 {
				t.Errorf("POST %s from %v: %d, cookies %v; want 403 and none", u, from, p.status, p.header.Values("Set-Cookie"))
			}
		}
	}
	var spent, sessions int
	s.Scan(t, `SELECT count(*) FROM portal_links WHERE used_at IS NOT NULL`, &spent)
	s.Scan(t, `SELECT count(*) FROM web_sessions`, &sessions)
	if spent != 0 || sessions != 0 {
		t.Fatalf("forms from other origins spent %d links and opened %d sessions, want none", spent, sessions)
	}
	// The site's own form, as a browser posts it.
	if p := post(link, url.Values{"csrf": {tossed}}, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": s.srv.URL}); p.status != http.StatusSeeOther {
		t.Errorf("the link's own button: %d, want 303", p.status)
	}
}
