package web_test

import (
	"net/http"
	"net/url"
	"testing"
)

// A NUL (or another control character, or bytes that are not UTF-8) in a
// page's path, query or form is refused before anything reads it: the
// redemption pages answered 500 for /portal/redemptions/a%00b, PostgreSQL
// refusing the text. A path answers no such page (404), as an id that is no
// redemption does; a query or a form answers 422.
func TestPagesRefuseParametersThatAreNotText(t *testing.T) {
	s := newSite(t)
	s.history(t)
	c, home := s.signedIn(t, "C1")
	csrf := home.csrf(t)
	for _, tc := range []struct {
		name   string
		status int
		do     func() page
	}{
		{"a redemption id with NUL", http.StatusNotFound, func() page { return get(t, c, s.srv.URL+"/portal/redemptions/a%00b") }},
		{"a redemption id not UTF-8", http.StatusNotFound, func() page { return get(t, c, s.srv.URL+"/portal/redemptions/a%ffb") }},
		{"a cancel of a redemption id with NUL", http.StatusNotFound, func() page {
			return post(t, c, s.srv.URL+"/portal/redemptions/a%00b/cancel", url.Values{"csrf": {csrf}})
		}},
		{"a SKU with NUL", http.StatusNotFound, func() page { return get(t, c, s.srv.URL+"/portal/redeem/a%00b") }},
		{"a statement cursor with NUL", http.StatusUnprocessableEntity, func() page {
			return get(t, c, s.srv.URL+"/portal/statement?before=1%00")
		}},
		{"a redemption form with NUL", http.StatusUnprocessableEntity, func() page {
			return post(t, c, s.srv.URL+"/portal/redeem", url.Values{"csrf": {csrf}, "sku": {"pen\x00"},
				"quantity": {"1"}, "redemption_id": {"web-nul"}})
		}},
	} {
		if p := tc.do(); p.status != tc.status {
			t.Errorf("%s: %d, want %d: %.200s", tc.name, p.status, tc.status, p.body)
		}
	}
	// The same requests with text are answered as before.
	if p := get(t, c, s.srv.URL+"/portal/redemptions/ab"); p.status != http.StatusNotFound {
		t.Errorf("an unknown redemption: %d, want 404", p.status)
	}
	if p := get(t, c, s.srv.URL+"/portal/statement"); p.status != http.StatusOK {
		t.Errorf("the statement: %d, want 200", p.status)
	}
	fin, _ := s.consoleSignedIn(t, "finance")
	if p := get(t, fin, s.srv.URL+"/console?as_of=2026-03-15T12:00%00"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("a console instant with NUL: %d, want 422", p.status)
	}
	// Months run 1971-01 to 2998-12: 1970-01 begins in 1969 in UTC in
	// Shanghai, and its CSV link would ask the API for an instant it
	// refuses.
	for _, period := range []string{"from=0000-01&to=0000-02", "from=1970-01&to=1970-02", "from=2999-11&to=2999-12"} {
		if p := get(t, fin, s.srv.URL+"/console/rebates?"+period); p.status != http.StatusUnprocessableEntity {
			t.Errorf("a console period %s: %d, want 422", period, p.status)
		}
	}
	if p := get(t, fin, s.srv.URL+"/console/rebates?from=1971-01&to=1971-02"); p.status != http.StatusOK {
		t.Errorf("a console period of 1971: %d, want 200", p.status)
	}
}
