package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// TestConsoleMonthCloseIsCutInTheBooksZone: the books cut a month
// (a close, the reports: finance.MonthBounds) in the time zone of the rule
// set in effect. With rules in UTC, an entry at 2026-02-28T20:00Z
// (2026-03-01 04:00 in Shanghai) is February's, closed with it: the
// console's close of 2026-02 counts it, and says which zone it cut the
// month in (helper-140 found it cut in Shanghai whatever the rules said);
// the points page's February does too.
func TestConsoleMonthCloseIsCutInTheBooksZone(t *testing.T) {
	s := newSite(t)
	s.Clock.Set(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC))
	rs := rules.Default()
	rs.Timezone = "UTC"
	rs.EffectiveFrom = time.Date(2026, 1, 10, 1, 0, 0, 0, time.UTC)
	if _, err := s.Loyalty.PutRules(s.Ctx, rs, "admin"); err != nil {
		t.Fatal(err)
	}
	s.Clock.Set(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC))
	at := time.Date(2026, 2, 28, 20, 0, 0, 0, time.UTC) // 2026-03-01 04:00 in Shanghai
	amount := decimal.RequireFromString("7.77")
	if _, _, err := s.Ledger.Post(s.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "test", EffectiveAt: at,
		Postings: []ledger.PostingInput{{Account: "platform:cash", Amount: amount},
			{Account: "platform:revenue:shipping", Amount: amount.Neg()}}}); err != nil {
		t.Fatal(err)
	}
	lot, err := s.Loyalty.LotAt(s.Ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Ledger.Post(s.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "test", EffectiveAt: at,
		Postings: []ledger.PostingInput{{Account: "customer:C1:points", Amount: decimal.NewFromInt(9), Lot: lot},
			{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-9)}}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Finance.ClosePeriod(s.Ctx, rules.Month("2026-02"), "admin")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the books' close of 2026-02: [%s, %s)", p.StartsAt.UTC(), p.EndsAt.UTC())
	if !at.Before(p.EndsAt) {
		t.Fatalf("the entry is not in the closed February: %s", p.EndsAt)
	}

	c := s.client(t)
	form := get(t, c, s.srv.URL+"/console/signin")
	if r := post(t, c, s.srv.URL+"/console/signin", url.Values{"csrf": {form.csrf(t)}, "key": {s.keys["finance"]}}); r.status != http.StatusSeeOther {
		t.Fatalf("finance signing in: %d", r.status)
	}
	page := get(t, c, s.srv.URL+"/console?month=2026-02&lang=en")
	if page.status != 200 {
		t.Fatalf("the page: %d %s", page.status, page.body)
	}
	row := regexp.MustCompile(`<tr><td>platform:cash</td>.*?</tr>`).FindString(page.body)
	if !regexp.MustCompile(`7\.77`).MatchString(row) {
		t.Errorf("the console's close of 2026-02 leaves out platform:cash's 7.77, effective %s, which the close of 2026-02 "+
			"(ends %s) holds; link: %s", at, p.EndsAt.UTC(), regexp.MustCompile(`trial-balance\?as_of=[^"]*`).FindString(page.body))
	}
	if !regexp.MustCompile(`2026-02-28 23:59:59\.999999 UTC`).MatchString(page.body) {
		t.Errorf("the page does not say the close is at 2026-02-28 23:59:59.999999 UTC")
	}
	// The points page of February counts the 9 points adjusted then, and
	// its CSV is February as the books cut it.
	page = get(t, c, s.srv.URL+"/console/points?from=2026-02&to=2026-02&lang=en")
	if row := regexp.MustCompile(`<tr><th scope="row">Earned: adjustments</th><td class="num">(.*?)</td>`).FindStringSubmatch(page.body); row == nil || row[1] != "9" {
		t.Errorf("February's points adjusted: %v, want 9", row)
	}
	if want := "/console/csv/points?from=2026-02-01T00%3A00%3A00Z&amp;to=2026-03-01T00%3A00%3A00Z"; !strings.Contains(page.body, want) {
		t.Errorf("the points page's CSV link is not February's as the books cut it (%s)", want)
	}
}
