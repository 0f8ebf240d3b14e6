package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/api"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/turns"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/web"
)

// site is a test's database with the API and the pages served on it, as
// cmd/tally serves them, and a key of each role.
type site struct {
	*servicetest.Env
	srv   *httptest.Server
	pages *web.Pages
	keys  map[string]string // partner, finance, admin, customer (of C1)
	turns *turns.Turns      // the heavy reads', shared by the API and the pages as cmd/tally shares them
}

func newSite(t *testing.T) *site { return newSiteOn(t, httptest.NewUnstartedServer, false, nil) }

// newSiteOn is newSite served by unstarted (over TLS when tls), with the
// console's reports read through readFinance when it is not nil (as
// standbys serve them).
func newSiteOn(t *testing.T, unstarted func(http.Handler) *httptest.Server, tls bool,
	readFinance func(context.Context) *finance.Service) *site {
	t.Helper()
	return newSiteOnEnv(t, servicetest.New(t), unstarted, tls, readFinance)
}

// newSiteOnEnv is newSiteOn over the services of e.
func newSiteOnEnv(t *testing.T, e *servicetest.Env, unstarted func(http.Handler) *httptest.Server, tls bool,
	readFinance func(context.Context) *finance.Service) *site {
	t.Helper()
	heavy := turns.Default()
	pages := web.New(web.Config{Pool: e.Pool, Ledger: e.Ledger, Loyalty: e.Loyalty, Catalog: e.Catalog,
		Prepaid: e.Prepaid, Finance: e.Finance, ReadFinance: readFinance, Turns: heavy})
	srv := unstarted(api.New(api.Config{Ledger: e.Ledger, Loyalty: e.Loyalty, Catalog: e.Catalog, Prepaid: e.Prepaid,
		Finance: e.Finance, OpenAPI: tally.OpenAPI, Pages: pages, Turns: heavy}))
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	s := &site{Env: e, srv: srv, pages: pages, keys: map[string]string{}, turns: heavy}
	for name, k := range map[string]struct {
		role ledger.Role
		cust string
	}{"partner": {ledger.RolePartner, ""}, "finance": {ledger.RoleFinance, ""}, "admin": {ledger.RoleAdmin, ""},
		"customer": {ledger.RoleCustomer, "C1"}} {
		secret, _, err := e.Ledger.CreateKey(e.Ctx, name, k.role, k.cust)
		if err != nil {
			t.Fatal(err)
		}
		s.keys[name] = secret
	}
	return s
}

// portalLink asks the API, as the partner, for a portal link for the
// customer.
func (s *site) portalLink(t *testing.T, customer string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+"/v1/portal/sessions", strings.NewReader(`{"customer_id":"`+customer+`"}`))
	req.Header.Set("Authorization", "Bearer "+s.keys["partner"])
	req.Header.Set("Content-Type", "application/json")
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /v1/portal/sessions: %d %v", res.StatusCode, err)
	}
	return out.URL
}

// enter opens a portal link as a browser does: its page (200), then its
// button; it answers the button's answer (303 to the portal when it opened
// a session).
func (s *site) enter(t *testing.T, c *http.Client, link string) page {
	t.Helper()
	p := get(t, c, link)
	if p.status != http.StatusOK {
		t.Fatalf("opening the link: %d %.300s", p.status, p.body)
	}
	return post(t, c, link, url.Values{"csrf": {p.csrf(t)}})
}

// client is an HTTP client with its own cookies that does not follow
// redirects, for the tests that read what the server sets.
func (s *site) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := s.srv.Client()
	return &http.Client{Transport: c.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// page is one HTTP exchange's status and body.
type page struct {
	status int
	header http.Header
	body   string
}

// seeOther checks that p sends the browser on to path (303) and is the page
// there, as the browser then shows it.
func (s *site) seeOther(t *testing.T, c *http.Client, p page, path string) page {
	t.Helper()
	if p.status != http.StatusSeeOther || p.header.Get("Location") != path {
		t.Fatalf("answered %d to %q, want 303 to %s: %.300s", p.status, p.header.Get("Location"), path, p.body)
	}
	return get(t, c, s.srv.URL+path)
}

func get(t *testing.T, c *http.Client, u string) page {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

func post(t *testing.T, c *http.Client, u string, form url.Values) page {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{res.StatusCode, res.Header, string(b)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the first form of the page.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in the page: %.300s", p.body)
	}
	return m[1]
}

// The browser: one headless Chromium for the test binary, started on first
// use; each test gets its own tab, and the browser's cookies are cleared
// when a tab opens.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// chromium is Debian's chromium, or what TALLY_CHROMIUM names.
func chromium() (string, error) {
	if p := os.Getenv("TALLY_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no chromium on PATH: make deps installs it (apt-get install chromium fonts-noto-cjk)")
}

func startBrowser() {
	path, err := chromium()
	if err != nil {
		browser.err = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "zh-CN"), chromedp.Flag("accept-lang", "zh-CN,zh"))
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root, as CI runs; only the
		// tests turn it off, on pages of their own server.
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		cancelAlloc()
		browser.err = err
		return
	}
	browser.ctx, browser.cancel = ctx, func() { cancel(); cancelAlloc() }
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// tab is a browser tab, without cookies when it opens, failing its test on any
// JavaScript console error, uncaught exception or browser log error (a
// CSP violation, a failed load).
type tab struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	bad []string
	// refused are the pages the test opens expecting a refusal: the
	// browser logs their status as an error.
	refused map[string]bool
}

func newTab(t *testing.T) *tab {
	t.Helper()
	browser.once.Do(startBrowser)
	if browser.err != nil {
		t.Fatalf("browser: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute) // a bound for a stuck browser, not a timing
	tb := &tab{t: t, ctx: ctx, refused: map[string]bool{}}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				msg = "console." + string(ev.Type)
				for _, a := range ev.Args {
					msg += " " + string(a.Value)
				}
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
		case *cdplog.EventEntryAdded:
			tb.mu.Lock()
			refused := ev.Entry.Source == cdplog.SourceNetwork && tb.refused[ev.Entry.URL]
			tb.mu.Unlock()
			if ev.Entry.Level == cdplog.LevelError && !refused {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			tb.mu.Lock()
			tb.bad = append(tb.bad, msg)
			tb.mu.Unlock()
		}
	})
	// The tests run one at a time: each starts with no cookies.
	if err := chromedp.Run(ctx, network.ClearBrowserCookies(), cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tb.mu.Lock()
		for _, m := range tb.bad {
			t.Errorf("browser: %s", m)
		}
		tb.mu.Unlock()
		cancelTimeout()
		cancel()
	})
	return tb
}

// run runs the actions, failing the test on an error.
func (tb *tab) run(actions ...chromedp.Action) {
	tb.t.Helper()
	if err := chromedp.Run(tb.ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// open loads u and fails unless it answers 200.
func (tb *tab) open(u string) {
	tb.t.Helper()
	if status := tb.load(chromedp.Navigate(u)); status != 200 {
		tb.t.Fatalf("%s: status %d", u, status)
	}
}

// enter opens a portal link (its page) and taps its button, which must
// open the portal (200).
func (tb *tab) enter(link string) {
	tb.t.Helper()
	tb.open(link)
	tb.click("#enter")
}

// openRefused loads u, which must answer status (the browser's log of it
// is no error of the page's).
func (tb *tab) openRefused(u string, status int) {
	tb.t.Helper()
	tb.mu.Lock()
	tb.refused[u] = true
	tb.mu.Unlock()
	if got := tb.load(chromedp.Navigate(u)); got != status {
		tb.t.Fatalf("%s: status %d, want %d", u, got, status)
	}
}

// load runs actions that load a page, waits for it and answers its status.
func (tb *tab) load(actions ...chromedp.Action) int {
	tb.t.Helper()
	res, err := chromedp.RunResponse(tb.ctx, actions...)
	if err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
	if res == nil {
		tb.t.Fatal("browser: no page loaded")
	}
	return int(res.Status)
}

// text is the visible text of the element the selector finds.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	var s string
	tb.run(chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return strings.TrimSpace(s)
}

// want checks the text of each selector.
func (tb *tab) want(texts map[string]string) {
	tb.t.Helper()
	for sel, want := range texts {
		if got := tb.text(sel); got != want {
			tb.t.Errorf("%s: %q, want %q", sel, got, want)
		}
	}
}

// rows is the text of each cell of each body row of a table.
func (tb *tab) rows(sel string) [][]string {
	tb.t.Helper()
	var out [][]string
	tb.run(chromedp.Evaluate(`Array.from(document.querySelectorAll(`+jsString(sel+" tbody tr")+`)).map(
		r => Array.from(r.cells).map(c => c.innerText.trim()))`, &out))
	return out
}

// click clicks the element, which loads a page that must answer 200.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	if status := tb.load(chromedp.Click(sel, chromedp.ByQuery, chromedp.NodeVisible)); status != 200 {
		tb.t.Fatalf("click %s: status %d", sel, status)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var axeSource struct {
	once sync.Once
	src  string
	err  error
}

// axePath is where `make axe` puts axe-core (npm, pinned in the Makefile).
const axePath = "../.data/npm-axe/node_modules/axe-core/axe.min.js"

// accessible runs axe-core on the page and fails the test on any serious or
// critical violation.
func (tb *tab) accessible() {
	tb.t.Helper()
	axeSource.once.Do(func() {
		b, err := os.ReadFile(axePath)
		axeSource.src, axeSource.err = string(b), err
	})
	if axeSource.err != nil {
		tb.t.Fatalf("axe-core: %v (run make axe)", axeSource.err)
	}
	var violations []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target []any `json:"target"`
		} `json:"nodes"`
	}
	var loaded bool
	tb.run(chromedp.Evaluate(axeSource.src+"\n;true", &loaded),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)`, &violations,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var location string
	tb.run(chromedp.Location(&location))
	for _, v := range violations {
		if v.Impact == "serious" || v.Impact == "critical" {
			tb.t.Errorf("axe on %s: %s (%s): %s, at %v", location, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}

// phone makes the tab a 375-pixel-wide phone screen.
func (tb *tab) phone() {
	tb.t.Helper()
	tb.run(chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
}
