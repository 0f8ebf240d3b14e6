package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/web"
)

// ask is one request of the client, for goroutines (no t.Fatal): a GET
// when form is nil, else the form POSTed.
func ask(c *http.Client, u string, form url.Values) (page, error) {
	var res *http.Response
	var err error
	if form == nil {
		res, err = c.Get(u)
	} else {
		res, err = c.PostForm(u, form)
	}
	if err != nil {
		return page{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}, err
}

// wantBusy checks that p is the portal's refusal of a request beyond the
// bound: 429 with Retry-After: 1, an HTML page (not a JSON problem) in
// lang, saying so, with a link to try again at again.
func wantBusy(t *testing.T, what string, p page, lang, again string) {
	t.Helper()
	said := map[string]string{"zh-CN": "您同时打开的页面太多，请稍等一秒再试。",
		"en": "Too many of your pages are loading at once; wait a second and try again."}[lang]
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "1" ||
		!strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("%s: %d, Retry-After %q, %q; want 429, Retry-After 1, an HTML page", what, p.status,
			p.header.Get("Retry-After"), p.header.Get("Content-Type"))
		return
	}
	if !strings.Contains(p.body, `<html lang="`+lang+`">`) || !strings.Contains(p.body, said) ||
		!strings.Contains(p.body, `href="`+again+`"`) {
		t.Errorf("%s: want the page in %s saying %q with a link to %s: %.2000s", what, lang, said, again, p.body)
	}
}

// holdRedemptions sends n of C1's redemptions of sku at once through
// client c (C1's session, its CSRF token csrf) while the test holds C1's
// row lock, which each waits for inside its handler. It answers the
// answers of those that come back (while held, those refused by the
// bound) and release, which lets the held ones go on.
func (s *site) holdRedemptions(t *testing.T, c *http.Client, csrf, sku string, n int) (answers chan page, release func()) {
	t.Helper()
	release = s.Hold(`SELECT 1 FROM customers WHERE id = 'C1' FOR UPDATE`)
	answers = make(chan page, n)
	for i := range n {
		go func() {
			p, err := ask(c, s.srv.URL+"/portal/redeem", url.Values{"csrf": {csrf}, "sku": {sku}, "quantity": {"1"},
				"redemption_id": {fmt.Sprintf("web-held-%02d", i)}})
			if err != nil {
				p.status, p.body = -1, err.Error()
			}
			answers <- p
		}()
	}
	return answers, release
}

// inFlightOf is how many of the customer's portal requests are in their
// handler once the bound's number are, or within 20 s (then fewer).
func (s *site) inFlightOf(customer string) int {
	n := web.CustomerInFlight(s.pages, customer)
	for end := time.Now().Add(20 * time.Second); n < web.PortalInFlight && time.Now().Before(end); n = web.CustomerInFlight(s.pages, customer) {
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// TestAPortalCustomerHasAtMostEightPagesInFlight: with one session sending
// 32 redemptions at once while each waits inside its handler (the test
// holds the customer's lock), 8 are in flight and the 24 others are
// answered at once with the portal's 429 page (Retry-After: 1, HTML, in
// the page's language, a link back to the form), as is any further page of
// that session (reading nothing), and of the customer's other session (the
// bound is the customer's). Meanwhile another customer's pages, the sign-in pages, the
// static files, sign-out, the console and the API (partner, finance, the
// customer's own key) go on. Released, the 8 held are answered, the
// customer's pages work again, and no place stays held.
func TestAPortalCustomerHasAtMostEightPagesInFlight(t *testing.T) {
	pool, counter := testdb.CountedPool(t)
	s := newSiteOnEnv(t, servicetest.NewWith(t, servicetest.Config{Pool: pool}), httptest.NewUnstartedServer, false, nil)
	s.history(t)
	a, home := s.signedIn(t, "C1")
	b, homeB := s.signedIn(t, "C1") // the customer's second session
	other, _ := s.signedIn(t, "C2")

	const n = 32
	answers, release := s.holdRedemptions(t, a, home.csrf(t), "MUG", n)
	var refused []page
	deadline := time.After(20 * time.Second)
collect:
	for len(refused) < n-web.PortalInFlight {
		select {
		case p := <-answers:
			refused = append(refused, p)
		case <-deadline:
			break collect
		}
	}
	if len(refused) != n-web.PortalInFlight {
		release()
		t.Fatalf("while %d redemptions waited in their handler, %d of %d were answered; want the %d beyond %d refused at once",
			n, len(refused), n, n-web.PortalInFlight, web.PortalInFlight)
	}
	for i, p := range refused {
		wantBusy(t, fmt.Sprintf("redemption %d beyond the bound", i+1), p, "zh-CN", "/portal/redeem/MUG")
	}
	// The 8 let in reach their handler (past their session's lookup)
	// after the refusals were answered.
	if got := s.inFlightOf("C1"); got != web.PortalInFlight {
		t.Errorf("%d of C1's redemptions in their handler, want %d", got, web.PortalInFlight)
	}
	select {
	case p := <-answers:
		t.Errorf("a ninth redemption was answered while 8 were held: %d %.300s", p.status, p.body)
	default:
	}

	// The session's and the customer's other session's pages are refused,
	// in their language; the refusal of a GET links to the page itself.
	// A refusal of the session that holds the places reads nothing, not
	// even the session.
	trips, _ := counter.Measure(func() {
		wantBusy(t, "C1's overview", get(t, a, s.srv.URL+"/portal"), "zh-CN", "/portal")
	})
	if trips != 0 {
		t.Errorf("refusing a page of the session at the bound took %d round trips to the database, want none", trips)
	}
	wantBusy(t, "C1's statement in English", get(t, a, s.srv.URL+"/portal/statement?lang=en"), "en",
		"/portal/statement?lang=en")
	wantBusy(t, "C1's other session", get(t, b, s.srv.URL+"/portal/catalog"), "zh-CN", "/portal/catalog")

	// Everyone else goes on.
	for _, path := range []string{"/portal", "/portal/statement", "/portal/catalog", "/portal/prepaid", "/portal/redemptions"} {
		if p := get(t, other, s.srv.URL+path); p.status != 200 {
			t.Errorf("C2's %s while C1 is at the bound: %d", path, p.status)
		}
	}
	fresh := s.client(t)
	for _, path := range []string{"/", "/portal/signin", "/console/signin", "/static/app.css", "/static/icon.svg"} {
		if p := get(t, fresh, s.srv.URL+path); p.status != 200 {
			t.Errorf("%s while C1 is at the bound: %d", path, p.status)
		}
	}
	if _, tb := s.consoleSignedIn(t, "finance"); tb.status != 200 {
		t.Errorf("the console while C1 is at the bound: %d", tb.status)
	}
	for _, role := range []string{"finance", "customer"} {
		if status, body := s.apiAs(t, role, "GET", "/v1/customers/C1/balances", nil); status != 200 {
			t.Errorf("%s GET C1's balances while C1's portal is at the bound: %d %s", role, status, body)
		}
	}
	// (A deposit for C2: one for C1 would wait for the lock the test holds.)
	if status, body := s.apiAs(t, "partner", "POST", "/v1/deposits",
		map[string]any{"deposit_id": "D-busy", "customer_id": "C2", "amount": "10.00"}); status != 201 {
		t.Errorf("a partner's deposit while C1's portal is at the bound: %d %s", status, body)
	}
	// Sign-out stays reachable: the customer's other session ends.
	if p := post(t, b, s.srv.URL+"/portal/signout", url.Values{"csrf": {homeB.csrf(t)}}); p.status != http.StatusSeeOther ||
		p.header.Get("Location") != "/portal/signin" {
		t.Errorf("signing out while C1 is at the bound: %d to %q, want 303 to /portal/signin", p.status, p.header.Get("Location"))
	}

	release()
	for range web.PortalInFlight {
		select {
		case p := <-answers:
			if p.status != http.StatusSeeOther && p.status != http.StatusUnprocessableEntity {
				t.Errorf("a held redemption, released: %d %.300s; want 303 (redeemed) or 422 (too few points)", p.status, p.body)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the held redemptions were not answered once released")
		}
	}
	if p := get(t, a, s.srv.URL+"/portal"); p.status != 200 {
		t.Errorf("C1's overview once the redemptions are answered: %d", p.status)
	}
	if sessions, customers := web.PortalPlacesHeld(s.pages); sessions != 0 || customers != 0 {
		t.Errorf("%d sessions and %d customers hold places once every request is answered", sessions, customers)
	}
}

// TestAPortalSessionsPlacesAreAllGivenBack: 32 goroutines of 10 pages each
// in one session get only 200 or 429, and once they are done no place is
// held and the pages answer.
func TestAPortalSessionsPlacesAreAllGivenBack(t *testing.T) {
	s := newSite(t)
	s.history(t)
	c, _ := s.signedIn(t, "C1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				path := []string{"/portal", "/portal/statement"}[i%2]
				p, err := ask(c, s.srv.URL+path, nil)
				if err != nil {
					p.status = -1
				}
				mu.Lock()
				statuses[p.status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if statuses[200] == 0 || statuses[200]+statuses[429] != 320 {
		t.Errorf("answers by status %v, want 320 of 200 or 429, some 200", statuses)
	}
	if sessions, customers := web.PortalPlacesHeld(s.pages); sessions != 0 || customers != 0 {
		t.Errorf("%d sessions and %d customers hold places once every request is answered", sessions, customers)
	}
	if p := get(t, c, s.srv.URL+"/portal"); p.status != 200 {
		t.Errorf("the overview afterwards: %d", p.status)
	}
	t.Logf("answers by status: %v", statuses)
}

// TestThePortalsBusyPageInABrowser: a customer's browser, while their
// other session holds the customer's 8 places, is shown the busy page
// (429): readable, accessible, in Chinese, its language switch to English
// working as well; once the places are given back, its "try again" link
// opens the page.
func TestThePortalsBusyPageInABrowser(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.phone()
	tb.enter(s.portalLink(t, "C1"))
	c, home := s.signedIn(t, "C1")
	answers, release := s.holdRedemptions(t, c, home.csrf(t), "MUG", web.PortalInFlight)
	if got := s.inFlightOf("C1"); got != web.PortalInFlight {
		t.Fatalf("%d of C1's redemptions in their handler, want %d", got, web.PortalInFlight)
	}
	u := s.srv.URL + "/portal/statement"
	tb.openRefused(u, http.StatusTooManyRequests)
	tb.want(map[string]string{"h1": "请稍候", "p.notice": "您同时打开的页面太多，请稍等一秒再试。", "a.button": "重试"})
	tb.accessible()
	tb.openRefused(u+"?lang=en", http.StatusTooManyRequests)
	tb.want(map[string]string{"h1": "One moment", "p.notice": "Too many of your pages are loading at once; wait a second and try again.",
		"a.button": "Try again"})
	release()
	for range web.PortalInFlight {
		<-answers
	}
	tb.click("a.button")
	if got := tb.text("h1"); got != "Statement" {
		t.Errorf("after trying again: h1 %q, want the statement", got)
	}
}
