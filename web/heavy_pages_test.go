package web_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tally-ledger/tally/internal/turns"
)

// The console's pages that read the whole books take the heavy reads'
// turns, the same the API's reports take: while all of them are taken (as
// by reports whose clients never read their answers), a console page waits
// for one, then is answered 503 with Retry-After, in the page's language;
// once a turn is given back, it is served. The portal takes no turn.
func TestConsolePagesTakeTheHeavyReadsTurns(t *testing.T) {
	s := newSite(t)
	s.history(t)
	console, _ := s.consoleSignedIn(t, "finance")
	portal, _ := s.signedIn(t, "C1")
	var releases []func()
	for range turns.Reads {
		release, err := s.turns.Take(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	pages := []string{"/console", "/console/rebates?from=2026-01&to=2026-03", "/console/points?from=2026-01&to=2026-03",
		"/console/segments", "/console/reconciliation"}
	var wg sync.WaitGroup
	for _, path := range pages {
		wg.Go(func() {
			p := get(t, console, s.srv.URL+path)
			if p.status != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "报表正忙") {
				t.Errorf("%s with every turn taken: %d, Retry-After %q, want a 503 page with Retry-After", path, p.status,
					p.header.Get("Retry-After"))
			}
		})
	}
	wg.Go(func() {
		if p := get(t, portal, s.srv.URL+"/portal"); p.status != http.StatusOK {
			t.Errorf("the portal with every turn taken: %d, want 200", p.status)
		}
	})
	wg.Wait()
	for _, release := range releases {
		release()
	}
	for _, path := range pages {
		if p := get(t, console, s.srv.URL+path); p.status != http.StatusOK {
			t.Errorf("%s once the turns are given back: %d", path, p.status)
		}
	}
	if n := s.turns.Held(); n != 0 {
		t.Errorf("%d turns still taken after every page answered", n)
	}
}
