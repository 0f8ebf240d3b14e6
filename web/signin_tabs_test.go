package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestASignInFormOutlivesALinkFromAnotherSite: a sign-in form left open in
// one tab still signs in after the person followed a link from another
// site to a sign-in page in another tab. That navigation is cross-site: a
// Strict sign-in cookie did not go with it, so the page set a new token
// and the first tab's form was refused as forged. The cookie is Lax: sent
// on a top-level navigation from elsewhere, never on another site's POST.
func TestASignInFormOutlivesALinkFromAnotherSite(t *testing.T) {
	s := newSite(t)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>elsewhere</title><a id="go" href="%s/portal/signin">sign in</a>`, s.srv.URL)
	}))
	t.Cleanup(elsewhere.Close)
	first := newTab(t)
	first.open(s.srv.URL + "/console/signin?lang=en")
	first.run(chromedp.SendKeys("#key", s.keys["finance"], chromedp.ByQuery))

	second, cancel := chromedp.NewContext(first.ctx) // another tab of the same browser
	defer cancel()
	other := &tab{t: t, ctx: second, refused: map[string]bool{}}
	// Another host name of the loopback: another site.
	other.open(strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1))
	other.click("#go")

	first.click("form button[type=submit]")
	first.want(map[string]string{"h1": "Trial balance"})
}
