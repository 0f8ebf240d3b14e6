package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/web"
)

// signInToConsole signs the tab in with the key through the form.
func (tb *tab) signInToConsole(base, key string) {
	tb.t.Helper()
	tb.open(base + "/console/signin?lang=en")
	tb.accessible()
	tb.run(chromedp.SendKeys("#key", key, chromedp.ByQuery))
	tb.click("form button[type=submit]")
}

// TestFinanceReadsTheRebateRollForwardAndDownloadsItsCSV: finance signs in
// with its key, which the browser keeps nowhere; the rebate roll-forward
// of March is what DOMAIN.md makes of C1's deposits (12,345.67 at 4% ->
// 493.82 and 999.99 at 0%, nothing used: the charge came from principal),
// drawn by month; its CSV download is the API's report of the same period.
func TestFinanceReadsTheRebateRollForwardAndDownloadsItsCSV(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.signInToConsole(s.srv.URL, s.keys["finance"])
	tb.want(map[string]string{"h1": "Trial balance"})
	tb.accessible()

	var cookies []*network.Cookie
	var stored string
	tb.run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().Do(ctx)
		return err
	}), chromedp.Evaluate(`document.cookie + "|" + localStorage.length + "|" + sessionStorage.length`, &stored))
	if stored != "|0|0" {
		t.Errorf("the page can read %q (cookies|localStorage|sessionStorage), want nothing", stored)
	}
	for _, c := range cookies {
		if strings.Contains(c.Value, s.keys["finance"]) {
			t.Errorf("cookie %s holds the key", c.Name)
		}
		if c.Name == "tally_console_session" && (!c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict) {
			t.Errorf("console cookie: HttpOnly %v, SameSite %s; want HttpOnly, Strict", c.HTTPOnly, c.SameSite)
		}
	}

	tb.open(s.srv.URL + "/console/rebates?from=2026-03&to=2026-03")
	want := [][]string{{"C1", "0.00", "493.82", "0.00", "0.00", "0.00", "493.82", "13,345.66", "3.7%"}}
	if got := tb.rows("#rebates"); !reflect.DeepEqual(got, want) {
		t.Errorf("rebate roll-forward %v, want %v", got, want)
	}
	var total []string
	tb.run(chromedp.Evaluate(`Array.from(document.querySelectorAll("#rebates tfoot td")).map(c => c.innerText.trim())`, &total))
	if !reflect.DeepEqual(total, want[0][1:]) {
		t.Errorf("total %v, want %v", total, want[0][1:])
	}
	var bars []string
	tb.run(chromedp.Evaluate(`Array.from(document.querySelectorAll("svg.chart rect title")).map(t => t.textContent)`, &bars))
	if !reflect.DeepEqual(bars, []string{"2026-03 Granted: 493.82"}) {
		t.Errorf("chart bars %q, want March's grant alone", bars)
	}
	tb.accessible()

	dir := t.TempDir()
	done := make(chan string, 1)
	chromedp.ListenTarget(tb.ctx, func(ev any) {
		if ev, ok := ev.(*cdpbrowser.EventDownloadProgress); ok && ev.State == cdpbrowser.DownloadProgressStateCompleted {
			select {
			case done <- ev.GUID:
			default:
			}
		}
	})
	tb.run(cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName).WithDownloadPath(dir).WithEventsEnabled(true),
		chromedp.Click("#rebates-csv", chromedp.ByQuery))
	var guid string
	select {
	case guid = <-done:
	case <-tb.ctx.Done():
		t.Fatal("the CSV download did not complete")
	}
	csv, err := os.ReadFile(filepath.Join(dir, guid))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	wantLines := []string{"customer_id,opening,granted,used_by_charges,clawed_back,adjustments,closing,deposits,effective_rate",
		"C1,0.00,493.82,0.00,0.00,0.00,493.82,13345.66,0.0370"}
	if len(lines) != 3 || lines[0] != wantLines[0] || lines[1] != wantLines[1] || !strings.HasSuffix(lines[2], ",0.00,493.82,0.00,0.00,0.00,493.82,13345.66,0.0370") {
		t.Errorf("CSV:\n%s\nwant the header, C1's row and the total", csv)
	}
}

// TestConsolePagesShowTheBooks: the points roll-forward of March, by
// channel (C1's volume 2,500 + 148, C2's 60; C1's referral bonus 500;
// February's 100 opening), the pyramid, the reconciliation and the trial
// balance, each accessible, on a phone too.
func TestConsolePagesShowTheBooks(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.signInToConsole(s.srv.URL, s.keys["admin"])
	tb.open(s.srv.URL + "/console/points?from=2026-03&to=2026-03")
	want := [][]string{{"Opening", "100"}, {"Earned: volume", "2,708"}, {"Earned: referrals", "500"},
		{"Earned: feedback", "0"}, {"Earned: campaigns", "0"}, {"Earned: adjustments", "0"}, {"Earned in total", "3,208"},
		{"Redeemed (net of cancellations)", "0"}, {"Expired", "0"}, {"Owed on refunds (not taken back)", "0"},
		{"Owed points settled", "0"}, {"Closing", "3,308"}}
	if got := tb.rows("#points"); !reflect.DeepEqual(got, want) {
		t.Errorf("points roll-forward %v, want %v", got, want)
	}
	tb.accessible()
	tb.open(s.srv.URL + "/console/segments?month=2026-03")
	// March: C1 2,623.45 (mid), C2 60.00 (floating); A is the top 5% (ceil:
	// one customer), B the next 15% (to ceil of 20%: none), C the rest.
	if got := tb.rows("#classes"); len(got) != 3 || got[0][1] != "1" || got[0][2] != "2,623.45" || got[2][1] != "1" ||
		got[2][2] != "60.00" {
		t.Errorf("A/B/C split %v", got)
	}
	tb.accessible()
	tb.open(s.srv.URL + "/console/reconciliation")
	tb.want(map[string]string{"#recon-result": "Every check passes."})
	tb.accessible()
	tb.phone()
	tb.open(s.srv.URL + "/console?as_of=2026-03-13T09:30")
	// As of 09:30 on 13 March, the first deposit is in and the second not.
	var rows [][]string
	rows = tb.rows("#trial-balance")
	found := false
	for _, r := range rows {
		if r[0] == "customer:C1:prepaid" {
			found = true
			if r[3] != "12,345.67" {
				t.Errorf("C1's prepaid as of 13 March 09:30: %v, want 12,345.67 credit, grouped as every page groups money", r)
			}
		}
	}
	if !found {
		t.Errorf("no customer:C1:prepaid in %v", rows)
	}
	tb.accessible()
	// In Chinese, each check says what it checks in Chinese (its name, a
	// code, stays as it is).
	tb.open(s.srv.URL + "/console/reconciliation?lang=zh-CN")
	tb.want(map[string]string{"#recon-result": "全部检查通过。"})
	han := regexp.MustCompile(`\p{Han}`)
	checks := tb.rows("#checks")
	if len(checks) < 15 {
		t.Errorf("%d checks shown, want every one", len(checks))
	}
	for _, r := range checks {
		name, said, _ := strings.Cut(r[0], "\n")
		if !han.MatchString(said) {
			t.Errorf("check %s says %q in the Chinese console", name, said)
		}
	}
	tb.accessible()
}

// TestConsoleNeedsAFinanceOrAdminSession: a customer or partner key cannot
// sign in, the CSV downloads need the console's session, and a portal
// session is no console session.
func TestConsoleNeedsAFinanceOrAdminSession(t *testing.T) {
	s := newSite(t)
	s.history(t)
	for _, role := range []string{"customer", "partner"} {
		c := s.client(t)
		form := get(t, c, s.srv.URL+"/console/signin")
		if p := post(t, c, s.srv.URL+"/console/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys[role]}}); p.status != http.StatusForbidden {
			t.Errorf("a %s key signing in to the console: %d, want 403", role, p.status)
		}
	}
	c := s.client(t)
	form := get(t, c, s.srv.URL+"/console/signin")
	if p := post(t, c, s.srv.URL+"/console/signin", url.Values{"csrf": {form.csrf(t)}, "key": {"tly_never-issued"}}); p.status != http.StatusUnauthorized {
		t.Errorf("an unknown key signing in: %d, want 401", p.status)
	}
	portal, _ := s.signedIn(t, "C1")
	for _, path := range []string{"/console", "/console/rebates"} {
		if p := get(t, portal, s.srv.URL+path); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/signin" {
			t.Errorf("a portal session on %s: %d, want 303 to sign in", path, p.status)
		}
	}
	if p := get(t, portal, s.srv.URL+"/console/csv/rebates?from=2026-03-01T00:00:00Z"); p.status != http.StatusUnauthorized {
		t.Errorf("a CSV download without a console session: %d, want 401", p.status)
	}
	fin := s.client(t)
	form = get(t, fin, s.srv.URL+"/console/signin")
	if p := post(t, fin, s.srv.URL+"/console/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys["finance"]}}); p.status != http.StatusSeeOther {
		t.Fatalf("finance signing in: %d", p.status)
	}
	p := get(t, fin, s.srv.URL+"/console/csv/rebates?from=2026-03-01T00:00:00%2B08:00&to=2026-04-01T00:00:00%2B08:00")
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(p.body, "\nC1,0.00,493.82,") {
		t.Errorf("finance's CSV download: %d %s %q", p.status, p.header.Get("Content-Type"), p.body)
	}
}

// TestConsolePagesListAtMostPageRowsOfCustomers: a trial balance lists
// every platform account and the first web.PageRows customer accounts, a
// rebate roll-forward its first web.PageRows customers, each saying how
// many more there are; their totals stay those of every row (the pages
// are built whole: with a million customers, listing all of them took the
// memory of a million rows and their HTML).
func TestConsolePagesListAtMostPageRowsOfCustomers(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.signInToConsole(s.srv.URL, s.keys["finance"])
	footer := func(table string) []string {
		var cells []string
		tb.run(chromedp.Evaluate(`Array.from(document.querySelectorAll("#`+table+` tfoot td")).map(c => c.innerText.trim())`, &cells))
		return cells
	}
	hidden := func(id string) string {
		var text string
		tb.run(chromedp.Evaluate(`(document.getElementById("`+id+`") || {innerText: ""}).innerText.trim()`, &text))
		return text
	}
	const tbURL, rebatesURL = "/console?as_of=2026-03-31T00:00", "/console/rebates?from=2026-03&to=2026-03"
	tb.open(s.srv.URL + tbURL)
	all, allTotals := tb.rows("#trial-balance"), footer("trial-balance")
	var platform, customers [][]string
	for _, r := range all {
		if strings.HasPrefix(r[0], "customer:") {
			customers = append(customers, r)
		} else {
			platform = append(platform, r)
		}
	}
	if len(customers) < 3 || len(platform) < 3 || hidden("trial-balance-hidden") != "" {
		t.Fatalf("the whole trial balance: %d platform and %d customer accounts, %q hidden; want some of each, none hidden",
			len(platform), len(customers), hidden("trial-balance-hidden"))
	}
	tb.open(s.srv.URL + rebatesURL)
	rebates, rebatesTotal := tb.rows("#rebates"), footer("rebates")
	if len(rebates) == 0 {
		t.Fatal("no customer in March's rebate roll-forward")
	}

	defer func(n int) { web.PageRows = n }(web.PageRows)
	web.PageRows = 2
	tb.open(s.srv.URL + tbURL)
	var want [][]string
	kept := 0
	for _, r := range all {
		if !strings.HasPrefix(r[0], "customer:") || kept < 2 {
			want = append(want, r)
		}
		if strings.HasPrefix(r[0], "customer:") {
			kept++
		}
	}
	if got := tb.rows("#trial-balance"); !reflect.DeepEqual(got, want) {
		t.Errorf("trial balance with web.PageRows 2:\n%v\nwant every platform account and the first 2 customer accounts:\n%v", got, want)
	}
	if got := footer("trial-balance"); !reflect.DeepEqual(got, allTotals) {
		t.Errorf("trial balance totals %v, want the whole's %v", got, allTotals)
	}
	if got, w := hidden("trial-balance-hidden"), fmt.Sprintf("%d more customer accounts are not listed", len(customers)-2); !strings.HasPrefix(got, w) {
		t.Errorf("trial balance says %q, want %q…", got, w)
	}
	tb.accessible()

	web.PageRows = 0
	tb.open(s.srv.URL + rebatesURL)
	if got := tb.rows("#rebates"); len(got) != 0 {
		t.Errorf("rebate roll-forward with web.PageRows 0 lists %v", got)
	}
	if got := footer("rebates"); !reflect.DeepEqual(got, rebatesTotal) {
		t.Errorf("rebate total %v, want the whole's %v", got, rebatesTotal)
	}
	if got, w := hidden("rebates-hidden"), fmt.Sprintf("%d more customers are not listed", len(rebates)); !strings.HasPrefix(got, w) {
		t.Errorf("rebate roll-forward says %q, want %q…", got, w)
	}
	tb.accessible()
}

// TestConsolePointsPageAddsUpWithOwedPoints: C2 spends its points, then its
// shipment is refunded (it owes what the refund could not take back) and a
// later shipment settles the debt. The page's lines add up to its closing,
// owed and settled among them (a finance audit found the page listing
// neither: its lines then missed the closing by what was owed), and every
// line is the API report's figure.
func TestConsolePointsPageAddsUpWithOwedPoints(t *testing.T) {
	s := newSite(t)
	s.history(t)
	s.Product(catalog.Product{SKU: "PEN", Name: "Pen", Kind: catalog.Standard, PointsPrice: 50, Active: true})
	if _, err := s.Redeem("C2", "PEN", 1); err != nil {
		t.Fatal(err)
	}
	s.MustProcess(s.Event(loyalty.ShipmentRefunded, "C2", "S-4", "60.00", march(14, 12)))
	s.Ship("C2", "S-5", "80.00", march(14, 13))
	from, to := march(1, 0), march(1, 0).AddDate(0, 1, 0)
	rep, err := s.Finance.PointsRollForward(s.Ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Owed == 0 || rep.Settled == 0 {
		t.Fatalf("the history owes nothing or settles nothing: %+v", rep)
	}
	tb := newTab(t)
	tb.signInToConsole(s.srv.URL, s.keys["admin"])
	tb.open(s.srv.URL + "/console/points?from=2026-03&to=2026-03")
	shown := map[string]int64{}
	for _, r := range tb.rows("#points") {
		n, err := strconv.ParseInt(strings.ReplaceAll(r[1], ",", ""), 10, 64)
		if err != nil {
			t.Fatalf("line %v: %v", r, err)
		}
		shown[r[0]] = n
	}
	want := map[string]int64{"Opening": rep.Opening, "Earned in total": rep.EarnedTotal(),
		"Redeemed (net of cancellations)": -rep.Redeemed, "Expired": -rep.Expired,
		"Owed on refunds (not taken back)": rep.Owed, "Owed points settled": -rep.Settled, "Closing": rep.Closing}
	var sum int64
	for line, n := range want {
		if shown[line] != n {
			t.Errorf("%s: %d shown, the report says %d", line, shown[line], n)
		}
		if line != "Closing" {
			sum += shown[line]
		}
	}
	if sum != shown["Closing"] {
		t.Errorf("the lines add up to %d, the closing shown is %d: %v", sum, shown["Closing"], shown)
	}
	tb.accessible()
}

// TestConsoleTrialBalanceAtAMonthsClose: an entry at February's last
// microsecond and one at March's first instant. The books at February's
// close count the first and not the second, as a close keeps them; an
// instant to the minute could say neither (23:59 misses the first, 00:00
// counts the second). The CSV beside it is the same instant's.
func TestConsoleTrialBalanceAtAMonthsClose(t *testing.T) {
	s := newSite(t)
	s.history(t)
	for _, m := range []struct {
		at     time.Time
		amount string
	}{{march(1, 0).Add(-time.Microsecond), "1.11"}, {march(1, 0), "2.22"}} {
		amount := decimal.RequireFromString(m.amount)
		if _, _, err := s.Ledger.Post(s.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "test", EffectiveAt: m.at,
			Postings: []ledger.PostingInput{{Account: "platform:cash", Amount: amount},
				{Account: "platform:revenue:shipping", Amount: amount.Neg()}}}); err != nil {
			t.Fatal(err)
		}
	}
	tb := newTab(t)
	tb.signInToConsole(s.srv.URL, s.keys["admin"])
	cash := func() string {
		for _, r := range tb.rows("#trial-balance") {
			if r[0] == "platform:cash" {
				return r[3] // credited: a positive amount credits
			}
		}
		return ""
	}
	// In this order: the checks after the loop read the last page, the
	// month's close.
	for _, c := range []struct{ query, want string }{
		{"as_of=2026-02-28T23:59", ""}, {"as_of=2026-03-01T00:00", "3.33"}, {"month=2026-02", "1.11"},
	} {
		tb.open(s.srv.URL + "/console?" + c.query)
		if got := cash(); got != c.want {
			t.Errorf("%s: platform:cash credit %q, want %q", c.query, got, c.want)
		}
	}
	tb.want(map[string]string{"#tb-closing": "The books at the close of 2026-02: every entry effective up to its last instant (2026-02-28 23:59:59.999999 Asia/Shanghai), none of the next month's first."})
	var href string
	tb.run(chromedp.AttributeValue(`a[download="trial-balance.csv"]`, "href", &href, nil, chromedp.ByQuery))
	if want := "/console/csv/trial-balance?as_of=2026-02-28T15%3A59%3A59.999999Z"; href != want {
		t.Errorf("CSV link %q, want %q", href, want)
	}
	tb.accessible()
}
