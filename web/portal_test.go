package web_test

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

var march = servicetest.March

// The customer C1's history, on the clock at 2026-03-15 12:00 Shanghai, and
// what DOMAIN.md's rules make of it:
//   - 2026-02-20 ships 100.00: floating (nothing shipped before), x1.0 ->
//     100 points, expiring 2027-03-01 (end of the 12th month after February);
//   - 2026-03-10 ships 2,500.00: still floating (tier before the event: Feb
//     total 100, March 0) -> 2,500 points; 2026-03-12 ships 123.45: March so
//     far 2,500 makes mid L9, x1.2 -> floor(148.14) = 148; both expire
//     2027-04-01;
//   - C2, referred by C1, ships 60.00 on 2026-03-14 (>= 50): C1 earns 500
//     referral points, pending for 14 days, expiring 2027-04-01;
//   - so C1 holds 3,248 points, 2,748 available, 500 pending; expiring
//     2027-03-01: 100 and 2027-04-01: 2,648 + 500 = 3,148;
//   - March contribution 2,623.45: mid L9 = 9 + floor((c-2000)*7/8000); L10
//     needs c >= 2000 + 8000/7 = 3,142.857..., so 3,142.86 - 2,623.45 =
//     519.41 more;
//   - deposits 12,345.67 (4% -> 493.82, rounded down) and 999.99 (0% -> 0),
//     a charge of 500.00 from principal: principal 12,845.66, rebate 493.82.
//
// The catalogue: MUG (standard, 500 points) redeemable; BAG (level 12)
// not for a level 9; TV (standard, 10,000) more than the 2,748 available.
func (s *site) history(t *testing.T) {
	t.Helper()
	s.Customer("C1")
	s.Customer("C2", "C1")
	s.Ship("C1", "S-1", "100.00", march(1, 0).AddDate(0, 0, -9).Add(10*3600e9)) // 2026-02-20 10:00
	s.Ship("C1", "S-2", "2500.00", march(10, 10))
	s.Ship("C1", "S-3", "123.45", march(12, 10))
	s.Ship("C2", "S-4", "60.00", march(14, 10))
	s.MoneyAt(t, prepaid.Deposit, "D-1", "C1", "12345.67", march(13, 9))
	s.MoneyAt(t, prepaid.Deposit, "D-2", "C1", "999.99", march(13, 10))
	s.MoneyAt(t, prepaid.Charge, "CH-1", "C1", "500.00", march(14, 9))
	twelve := 12
	s.Product(catalog.Product{SKU: "MUG", Name: "Mug", Kind: catalog.Standard, PointsPrice: 500, Active: true})
	s.Product(catalog.Product{SKU: "BAG", Name: "Bag", Kind: catalog.Level, PointsPrice: 800, MinLevel: &twelve, Active: true})
	s.Product(catalog.Product{SKU: "TV", Name: "TV", Kind: catalog.Standard, PointsPrice: 10000, Active: true})
}

// TestCustomerOpensAPortalLinkAndSeesTheirNumbers: the partner's link shows
// a page with a button (what a phone sees, accessible), which opens the
// portal in Chinese, and every figure is what the rules make of the
// customer's history (above), on a phone and in English.
func TestCustomerOpensAPortalLinkAndSeesTheirNumbers(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.phone()
	tb.open(s.portalLink(t, "C1"))
	tb.want(map[string]string{"#enter": "打开", "form.card p": "点击下方按钮，查看您的积分和预付款。此链接只能使用一次。"})
	tb.accessible()
	tb.click("#enter")
	var lang string
	tb.run(chromedp.AttributeValue("html", "lang", &lang, nil, chromedp.ByQuery))
	if lang != "zh-CN" {
		t.Errorf("html lang %q, want zh-CN by default", lang)
	}
	tb.want(map[string]string{
		"#tier":              "中端客户 · 9 级",
		"#this-month":        "¥2,623.45",
		"#next":              "距离 中端客户 · 10 级 还需发货 ¥519.41",
		"#points-balance":    "3,248",
		"#points-available":  "2,748",
		"#points-pending":    "500",
		"#prepaid-principal": "¥12,845.66",
		"#prepaid-rebate":    "¥493.82",
	})
	if got, want := tb.rows("#expiring"), [][]string{{"2027-03-01", "100"}, {"2027-04-01", "3,148"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("expiring %v, want %v (soonest first)", got, want)
	}
	var progress string
	tb.run(chromedp.AttributeValue("#progress", "value", &progress, nil, chromedp.ByQuery))
	if progress != "834" { // 2,623.45 / (2,623.45 + 519.41) in per mille, rounded down
		t.Errorf("progress %s/1000, want 834", progress)
	}
	tb.accessible()

	tb.click(".lang")
	tb.run(chromedp.AttributeValue("html", "lang", &lang, nil, chromedp.ByQuery))
	tb.want(map[string]string{"#tier": "Mid-tier · level 9", "#next": "Ship ¥519.41 more this month to reach Mid-tier · level 10"})
	if lang != "en" {
		t.Errorf("html lang %q after the switch, want en", lang)
	}
	tb.accessible()

	tb.open(s.srv.URL + "/portal/prepaid")
	if got, want := tb.rows("#deposits"), [][]string{
		{"2026-03-13", "¥999.99", "0%", "¥0.00"}, {"2026-03-13", "¥12,345.67", "4%", "¥493.82"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("deposits %v, want %v", got, want)
	}
	if got, want := tb.rows("#charges"), [][]string{{"2026-03-14", "", "¥500.00", "¥500.00", "¥0.00"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("charges %v, want %v", got, want)
	}
	tb.accessible()

	tb.open(s.srv.URL + "/portal/statement")
	// Three shipments, the referral bonus, two deposits and the charge:
	// seven entries, the charge last posted and first shown.
	rows := tb.rows("#statement")
	if len(rows) != 7 || len(rows[0]) != 3 || rows[0][2] != "-¥500.00 principal" {
		t.Errorf("statement rows %q, want 7, the charge of -¥500.00 from the principal first", rows)
	}
	// Entries are listed as recorded, newest first, so the first column is
	// when each was recorded (the clock's now for all of them here); an
	// entry dated another day says so.
	if got, want := column(rows, 0), slices.Repeat([]string{"2026-03-15 12:00"}, 7); !reflect.DeepEqual(got, want) {
		t.Errorf("statement recorded %q, want %q", got, want)
	}
	// What each entry meant, as the API says it in English, and in Chinese
	// once the page is switched.
	english := []string{
		"charge: -500.00 CNY prepaid (dated 2026-03-14)",
		"deposit: 999.99 CNY prepaid (dated 2026-03-13)",
		"deposit: 12345.67 CNY prepaid, 493.82 CNY rebate (dated 2026-03-13)",
		"500 referral points for C2's shipment S-4 (dated 2026-03-14)",
		"148 points for shipment S-3 (mid-tier x1.2) (dated 2026-03-12)",
		"2500 points for shipment S-2 (floating x1) (dated 2026-03-10)",
		"100 points for shipment S-1 (floating x1) (dated 2026-02-20)",
	}
	if got := column(rows, 1); !reflect.DeepEqual(got, english) {
		t.Errorf("statement in English %q, want %q", got, english)
	}
	tb.accessible()
	tb.click(".lang")
	chinese := []string{
		"运费扣款：预付本金 -500.00 元（发生于 2026-03-14）",
		"充值：预付本金 999.99 元（发生于 2026-03-13）",
		"充值：预付本金 12345.67 元，返利 493.82 元（发生于 2026-03-13）",
		"推荐奖励 500 积分：C2 的发货 S-4（发生于 2026-03-14）",
		"发货 S-3 获得 148 积分（中端客户 ×1.2）（发生于 2026-03-12）",
		"发货 S-2 获得 2500 积分（浮动客户 ×1）（发生于 2026-03-10）",
		"发货 S-1 获得 100 积分（浮动客户 ×1）（发生于 2026-02-20）",
	}
	zh := tb.rows("#statement")
	if got := column(zh, 1); !reflect.DeepEqual(got, chinese) {
		t.Errorf("statement in Chinese %q, want %q", got, chinese)
	}
	// Each amount of money says which balance it moved.
	if got, want := zh[2][2], "+¥12,345.67 本金\n+¥493.82 返利"; got != want {
		t.Errorf("the deposit's movements %q, want %q", got, want)
	}
	tb.accessible()
}

// column is the i-th cell of each row ("" where a row is shorter).
func column(rows [][]string, i int) []string {
	out := make([]string, len(rows))
	for r, cells := range rows {
		if i < len(cells) {
			out[r] = cells[i]
		}
	}
	return out
}

// TestCustomerRedeemsAndCancels: the catalogue says what may be redeemed
// now and why not; a confirmed redemption takes its points from what is
// available, and a confirmed cancellation gives them back.
func TestCustomerRedeemsAndCancels(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.enter(s.portalLink(t, "C1") + "?lang=en")
	tb.open(s.srv.URL + "/portal/catalog?lang=en")
	tb.want(map[string]string{
		"#catalog-available": "2,748",
		"#why-BAG":           "Not now: needs level 12",
		"#why-TV":            "Not now: 7,252 more available points needed", // 10,000 less 2,748
	})
	tb.accessible()
	tb.click("#product-MUG a.button")
	tb.accessible()
	tb.click("#confirm")
	tb.want(map[string]string{"#status": "Redeemed"})
	if got := s.Balances(t, "C1").Points.Available; got != 2748-500 {
		t.Errorf("available after redeeming %d, want 2,248", got)
	}
	tb.accessible()
	tb.run(chromedp.Click("#sure", chromedp.ByQuery))
	tb.click("#cancel")
	tb.want(map[string]string{"#status": "Cancelled"})
	if got := s.Balances(t, "C1").Points.Available; got != 2748 {
		t.Errorf("available after cancelling %d, want 2,748 back", got)
	}
	tb.open(s.srv.URL + "/portal")
	tb.want(map[string]string{"#points-available": "2,748"})
}

// TestSpentLinkIsRefused: a link opens one session, once; opened again (in
// another browser) it is refused and sets no session.
func TestSpentLinkIsRefused(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	link := s.portalLink(t, "C1")
	first := newTab(t)
	first.enter(link)
	first.want(map[string]string{"#points-balance": "0"})

	again := newTab(t)
	again.openRefused(link, 410)
	if got := again.text("main [role=alert]"); got != "此链接已使用或已过期。请从应用中重新打开。" {
		t.Errorf("spent link says %q", got)
	}
	again.accessible()
	again.openRefused(s.srv.URL+"/portal", 401)
	if got := again.text("main [role=alert]"); !strings.Contains(got, "已退出") {
		t.Errorf("the portal without a session says %q, want signed out", got)
	}
}

// TestStatementIsPaged: 25 entries show as a page of 20, the latest
// first, and an "older" link to the other 5, which has none further.
func TestStatementIsPaged(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	for i := 1; i <= 25; i++ {
		s.Ship("C1", fmt.Sprintf("S-%02d", i), fmt.Sprintf("%d.00", i), march(1, 0).Add(time.Duration(i)*time.Hour))
	}
	c, _ := s.signedIn(t, "C1")
	first := get(t, c, s.srv.URL+"/portal/statement")
	older := regexp.MustCompile(`href="(/portal/statement\?before=\d+)" rel="next"`).FindStringSubmatch(first.body)
	if n := strings.Count(first.body, "<tr>") - 1; n != 20 || older == nil {
		t.Fatalf("first page: %d entries, older link %v; want 20 and a link", n, older)
	}
	if !strings.Contains(first.body, "S-25") || strings.Contains(first.body, "S-05 ") {
		t.Errorf("the first page does not start with the latest shipment")
	}
	second := get(t, c, s.srv.URL+older[1])
	if n := strings.Count(second.body, "<tr>") - 1; n != 5 || strings.Contains(second.body, `rel="next"`) {
		t.Errorf("second page: %d entries, want the other 5 and no older link", n)
	}
}

// TestRedeemWithTheKeyboardAlone: from the catalogue, Tab reaches the
// redeem link and Enter follows it; Tab reaches the confirmation and Enter
// submits it.
func TestRedeemWithTheKeyboardAlone(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.phone()
	tb.enter(s.portalLink(t, "C1"))
	tb.open(s.srv.URL + "/portal/catalog")
	tb.tabTo("#product-MUG a.button")
	tb.load(chromedp.KeyEvent(kb.Enter))
	tb.tabTo("#confirm")
	tb.load(chromedp.KeyEvent(kb.Enter))
	tb.want(map[string]string{"#status": "已兑换"})
	if got := s.Balances(t, "C1").Points.Available; got != 2748-500 {
		t.Errorf("available after redeeming by keyboard %d, want 2,248", got)
	}
}

// tabTo presses Tab until the element the selector finds has the focus.
func (tb *tab) tabTo(sel string) {
	tb.t.Helper()
	for range 40 {
		var focused bool
		tb.run(chromedp.KeyEvent(kb.Tab), chromedp.Evaluate(`document.activeElement === document.querySelector(`+jsString(sel)+`)`, &focused))
		if focused {
			return
		}
	}
	tb.t.Fatalf("40 presses of Tab never reached %s", sel)
}
