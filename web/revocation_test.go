package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// TestRevokingAKeyEndsTheSessionsItOpened: a session is only as good as the
// key behind it. Revoking the finance key that signed in to the console,
// the customer key that signed in to the portal, or the partner key that
// asked for a portal link ends each of those sessions at their next request.
func TestRevokingAKeyEndsTheSessionsItOpened(t *testing.T) {
	s := newSite(t)
	s.history(t)
	signIn := func(side string, role ledger.Role, customer string) (*http.Client, int64) {
		t.Helper()
		secret, key, err := s.Ledger.CreateKey(s.Ctx, side+"-revoked", role, customer)
		if err != nil {
			t.Fatal(err)
		}
		c := s.client(t)
		form := get(t, c, s.srv.URL+"/"+side+"/signin")
		if p := post(t, c, s.srv.URL+"/"+side+"/signin", url.Values{"csrf": {form.csrf(t)}, "key": {secret}}); p.status != http.StatusSeeOther {
			t.Fatalf("%s signing in: %d", side, p.status)
		}
		if p := get(t, c, s.srv.URL+"/"+side); p.status != 200 {
			t.Fatalf("%s before the revocation: %d", side, p.status)
		}
		return c, key.ID
	}
	console, financeKey := signIn("console", ledger.RoleFinance, "")
	portal, customerKey := signIn("portal", ledger.RoleCustomer, "C1")
	linked, _ := s.signedIn(t, "C1")
	var partnerKey int64
	if err := s.Pool.QueryRow(s.Ctx, `SELECT key_id FROM web_sessions WHERE kind = 'portal' ORDER BY created_at DESC, key_id LIMIT 1`).Scan(&partnerKey); err != nil {
		t.Fatal(err)
	}
	if partnerKey == customerKey {
		t.Fatalf("the linked session was opened by key %d, the customer key", partnerKey)
	}

	for _, id := range []int64{financeKey, customerKey, partnerKey} {
		if err := s.Ledger.RevokeKey(s.Ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if p := get(t, console, s.srv.URL+"/console"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signin" {
		t.Errorf("the console after its key was revoked: %d to %q, want 303 to sign in", p.status, p.header.Get("Location"))
	}
	if p := get(t, console, s.srv.URL+"/console/csv/rebates?from=2026-03-01T00:00:00Z"); p.status != http.StatusUnauthorized {
		t.Errorf("a CSV download after the console's key was revoked: %d, want 401", p.status)
	}
	for name, c := range map[string]*http.Client{"signed in with the customer key": portal, "opened by the partner's link": linked} {
		if p := get(t, c, s.srv.URL+"/portal"); p.status != http.StatusUnauthorized {
			t.Errorf("the portal session %s, after that key was revoked: %d, want 401", name, p.status)
		}
	}
}
