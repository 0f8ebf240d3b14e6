package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestConsoleCSVDownloadsAreNotStored: a CSV download on the console's
// session (trial balance, per-customer rebates, points, segments) is a
// finance page like the others, so no browser or proxy may keep a copy:
// Cache-Control: no-store, as every page sends.
func TestConsoleCSVDownloadsAreNotStored(t *testing.T) {
	s := newSite(t)
	s.history(t)
	fin := s.client(t)
	form := get(t, fin, s.srv.URL+"/console/signin")
	if p := post(t, fin, s.srv.URL+"/console/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys["finance"]}}); p.status != http.StatusSeeOther {
		t.Fatalf("finance signing in: %d", p.status)
	}
	if p := get(t, fin, s.srv.URL+"/console/rebates"); !strings.Contains(p.header.Get("Cache-Control"), "no-store") {
		t.Fatalf("the rebates page itself: Cache-Control %q, want no-store", p.header.Get("Cache-Control"))
	}
	for _, path := range []string{
		"/console/csv/trial-balance?as_of=2026-04-01T00:00:00Z",
		"/console/csv/rebates?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z",
		"/console/csv/points?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z",
		"/console/csv/segments?month=2026-03",
	} {
		p := get(t, fin, s.srv.URL+path)
		if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") {
			t.Errorf("GET %s: %d %s, want a CSV", path, p.status, p.header.Get("Content-Type"))
			continue
		}
		if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, cc)
		}
	}
}
