package web_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSigningInAgainEndsTheSessionItReplaces: a browser that opens a second
// portal link (or signs in again) gets a new session, and the one its
// cookie held ends on the server: a copy of the old cookie is refused.
func TestSigningInAgainEndsTheSessionItReplaces(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	c, _ := s.signedIn(t, "C1")
	u, _ := url.Parse(s.srv.URL + "/portal")
	old := c.Jar.Cookies(u)
	if p := s.enter(t, c, s.portalLink(t, "C1")); p.status != http.StatusSeeOther {
		t.Fatalf("opening a second link: %d, want 303", p.status)
	}
	if p := get(t, c, s.srv.URL+"/portal"); p.status != 200 {
		t.Errorf("the new session: %d, want 200", p.status)
	}
	replay := s.client(t)
	replay.Jar.SetCookies(u, old)
	if p := get(t, replay, s.srv.URL+"/portal"); p.status != http.StatusUnauthorized {
		t.Errorf("the replaced session's cookie: %d, want 401", p.status)
	}
	var live int
	if err := s.Pool.QueryRow(s.Ctx, `SELECT count(*) FROM web_sessions WHERE revoked_at IS NULL`).Scan(&live); err != nil || live != 1 {
		t.Errorf("live sessions %d (%v), want 1", live, err)
	}
}
