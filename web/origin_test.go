package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestTheSitesOwnFormsPassWithoutSecFetchSite: a browser that sends no
// Sec-Fetch-Site (older than 2023) is told apart by Origin, which the
// site's own forms must carry: under Referrer-Policy no-referrer Chromium
// sent "Origin: null", and every form of such a browser was refused as
// another origin's. (Found by review.) The server here drops the header
// before the pages see it; the browser posts the link's button, signs
// out, and signs in to the console.
func TestTheSitesOwnFormsPassWithoutSecFetchSite(t *testing.T) {
	old := func(h http.Handler) *httptest.Server {
		return httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Del("Sec-Fetch-Site")
			h.ServeHTTP(w, r)
		}))
	}
	s := newSiteOn(t, old, false, nil)
	s.Customer("C1")
	tb := newTab(t)
	tb.enter(s.portalLink(t, "C1"))
	tb.want(map[string]string{"#points-balance": "0"})
	if status := tb.load(chromedp.Click("form[action='/portal/signout'] button", chromedp.ByQuery, chromedp.NodeVisible)); status != 200 {
		t.Errorf("signing out: %d, want the sign-in page", status)
	}
	tb.signInToConsole(s.srv.URL, s.keys["finance"])
	tb.want(map[string]string{"h1": "Trial balance"})
}
