package web_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
)

// TestOnePortalLinkOpenedManyTimesAtOnceOpensOneSession: a link opened by
// many browsers, its button tapped in each at the same instant, is spent
// by exactly one of them, which
// gets the one session; the others are refused as for a spent link, and
// the table holds one session for the customer.
func TestOnePortalLinkOpenedManyTimesAtOnceOpensOneSession(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	const opens = 24
	for round := 0; round < 3; round++ {
		link := s.portalLink(t, "C1")
		statuses := make([]int, opens)
		cookies := make([]int, opens)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range opens {
			c := s.client(t)
			csrf := get(t, c, link).csrf(t) // the link's page spends nothing
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := c.PostForm(link, url.Values{"csrf": {csrf}})
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				statuses[i] = res.StatusCode
				for _, ck := range res.Cookies() {
					if ck.Name == "tally_portal_session" && ck.Value != "" {
						cookies[i]++
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		opened, refused, withCookie := 0, 0, 0
		for i := range opens {
			switch statuses[i] {
			case http.StatusSeeOther:
				opened++
			case http.StatusGone:
				refused++
			}
			withCookie += cookies[i]
		}
		if opened != 1 || refused != opens-1 || withCookie != 1 {
			t.Errorf("round %d: %d opens of one link: %d opened, %d refused, %d session cookies; want 1, %d, 1",
				round, opens, opened, refused, withCookie, opens-1)
		}
		var sessions int
		s.Scan(t, `SELECT count(*) FROM web_sessions WHERE customer_id = 'C1'`, &sessions)
		if sessions != round+1 {
			t.Errorf("round %d: %d sessions for C1 after %d links, want %d", round, sessions, round+1, round+1)
		}
	}
}
