package web_test

import (
	"html"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tally-ledger/tally/catalog"
)

// redeemAs redeems for the customer in the space, under id.
func (s *site) redeemAs(t *testing.T, space, id, customer, sku string, q int) {
	t.Helper()
	if _, _, err := s.Catalog.Redeem(s.Ctx, catalog.RedemptionInput{ID: id, CustomerID: customer, SKU: sku, Quantity: q,
		Space: space}, "test"); err != nil {
		t.Fatalf("redeem %s/%s: %v", space, id, err)
	}
}

var bodyRow = regexp.MustCompile(`(?s)<tr>\s*<td>.*?</tr>`)

// TestRedemptionsPageListsTheCustomersOwnOnlyAndCancelsOnlyTheirSpace: the
// list shows every redemption of the session's customer (the customer's own
// and the partner's for them), the latest first, never another customer's;
// only the customer's own may be cancelled (a link to its confirmation),
// the partner's says why not; another customer's redemption and the
// partner's are not found behind the portal's URLs, and cancelling the
// partner's is refused and leaves it standing.
func TestRedemptionsPageListsTheCustomersOwnOnlyAndCancelsOnlyTheirSpace(t *testing.T) {
	s := newSite(t)
	s.history(t) // C1 has 2,748 points available; C2 60
	s.Product(catalog.Product{SKU: "PEN", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10, Active: true})
	s.redeemAs(t, "customer:C1", "W-1", "C1", "MUG", 1)
	s.redeemAs(t, "partner:7", "P-1", "C1", "PEN", 4)
	s.redeemAs(t, "customer:C2", "W-2", "C2", "PEN", 3)
	s.redeemAs(t, "partner:7", "P-2", "C2", "PEN", 2)

	c, _ := s.signedIn(t, "C1")
	list := get(t, c, s.srv.URL+"/portal/redemptions?lang=en")
	if list.status != http.StatusOK {
		t.Fatalf("redemptions page: %d", list.status)
	}
	rows := bodyRow.FindAllString(list.body, -1)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want C1's 2: %s", len(rows), list.body)
	}
	// The partner's (the later) first: 4 pens at 10, not cancellable here.
	if r := rows[0]; !strings.Contains(r, "Pen × 4") || !strings.Contains(r, ">40<") ||
		!strings.Contains(r, "Made through the company&#39;s app") || strings.Contains(r, "href=") {
		t.Errorf("first row, want the partner's 4 pens (40 points) with why it cannot be cancelled here: %s", r)
	}
	if r := rows[1]; !strings.Contains(r, "Mug × 1") || !strings.Contains(r, ">500<") ||
		!strings.Contains(r, `href="/portal/redemptions/W-1"`) {
		t.Errorf("second row, want the customer's mug (500 points) with a link to cancel it: %s", r)
	}
	if strings.Contains(list.body, "× 3") || strings.Contains(list.body, "× 2") || strings.Contains(list.body, "W-2") {
		t.Errorf("C1 sees C2's redemptions: %s", list.body)
	}
	if !strings.Contains(list.body, `<a href="/portal/redemptions" aria-current="page">`) {
		t.Errorf("the nav does not mark the redemptions page as current")
	}

	if p := get(t, c, s.srv.URL+"/portal/redemptions/W-1"); p.status != 200 || !strings.Contains(p.body, `action="/portal/redemptions/W-1/cancel"`) {
		t.Errorf("own redemption: %d, want 200 with the form that cancels it", p.status)
	}
	for _, id := range []string{"W-2", "P-1", "P-2"} {
		if p := get(t, c, s.srv.URL+"/portal/redemptions/"+id); p.status != http.StatusNotFound {
			t.Errorf("redemption %s from C1's session: %d, want 404", id, p.status)
		}
	}
	if p := post(t, c, s.srv.URL+"/portal/redemptions/P-1/cancel", url.Values{"csrf": {list.csrf(t)}, "sure": {"yes"}}); p.status != http.StatusNotFound {
		t.Errorf("cancelling the partner's redemption from the portal: %d, want 404", p.status)
	}
	if r, err := s.Catalog.Redemption(s.Ctx, "partner:7", "P-1"); err != nil || r.Status != "redeemed" {
		t.Errorf("the partner's redemption after the portal's attempt: %+v %v, want still redeemed", r, err)
	}
	if p := get(t, c, s.srv.URL+"/portal/redemptions?before=x"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("a bad cursor: %d, want 422", p.status)
	}

	c2, _ := s.signedIn(t, "C2")
	rows = bodyRow.FindAllString(get(t, c2, s.srv.URL+"/portal/redemptions?lang=en").body, -1)
	if len(rows) != 2 || !strings.Contains(rows[0], "Pen × 2") || !strings.Contains(rows[1], "Pen × 3") {
		t.Errorf("C2's list %q, want the partner's 2 pens then its own 3", rows)
	}
}

// TestRedemptionsArePaged: 25 redemptions show as a page of 20, the latest
// first, and an "older" link to the other 5, which has none further.
func TestRedemptionsArePaged(t *testing.T) {
	s := newSite(t)
	s.history(t)
	s.Product(catalog.Product{SKU: "PEN", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10, Active: true})
	for i := 1; i <= 25; i++ {
		s.redeemAs(t, "customer:C1", "R-"+strings.Repeat("x", i), "C1", "PEN", 1)
	}
	c, _ := s.signedIn(t, "C1")
	first := get(t, c, s.srv.URL+"/portal/redemptions")
	older := regexp.MustCompile(`href="(/portal/redemptions\?before=\d+)" rel="next"`).FindStringSubmatch(first.body)
	if n := len(bodyRow.FindAllString(first.body, -1)); n != 20 || older == nil {
		t.Fatalf("first page: %d redemptions, older link %v; want 20 and a link", n, older)
	}
	if !strings.Contains(first.body, `"/portal/redemptions/R-`+strings.Repeat("x", 25)+`"`) ||
		strings.Contains(first.body, `"/portal/redemptions/R-`+strings.Repeat("x", 5)+`"`) {
		t.Errorf("the first page does not start with the latest redemption")
	}
	second := get(t, c, s.srv.URL+older[1])
	if n := len(bodyRow.FindAllString(second.body, -1)); n != 5 || strings.Contains(second.body, `rel="next"`) ||
		!strings.Contains(second.body, `"/portal/redemptions/R-x"`) {
		t.Errorf("second page: %d redemptions, want the other 5, down to the first, and no older link", n)
	}
}

// TestCustomerCancelsAnOlderRedemptionFromTheList: a customer redeems one
// mug, then two; the list shows both, the latest first, with their points
// (500 each); cancelling the older one from the list, once confirmed, marks
// it cancelled there and gives its 500 points back: 2,748 - 500 - 1,000 +
// 500 = 1,748 available.
func TestCustomerCancelsAnOlderRedemptionFromTheList(t *testing.T) {
	s := newSite(t)
	s.history(t)
	tb := newTab(t)
	tb.enter(s.portalLink(t, "C1"))
	tb.open(s.srv.URL + "/portal?lang=en")
	for _, q := range []string{"1", "2"} {
		tb.open(s.srv.URL + "/portal/redeem/MUG")
		tb.run(chromedp.SetValue("#quantity", q, chromedp.ByQuery))
		tb.click("#confirm")
		tb.want(map[string]string{"#status": "Redeemed"})
	}
	if got := s.Balances(t, "C1").Points.Available; got != 2748-500-1000 {
		t.Fatalf("available after redeeming 1 and 2 mugs %d, want 1,248", got)
	}
	tb.click("#all-redemptions")
	firstCells := func() [][]string {
		var out [][]string
		for _, r := range tb.rows("#redemptions") {
			out = append(out, r[:4])
		}
		return out
	}
	want := [][]string{
		{"2026-03-15 12:00", "Mug × 2", "1,000", "Redeemed"},
		{"2026-03-15 12:00", "Mug × 1", "500", "Redeemed"},
	}
	if got := firstCells(); !reflect.DeepEqual(got, want) {
		t.Errorf("redemptions %q, want %q (the latest first)", got, want)
	}
	tb.accessible()
	tb.click("#redemptions tbody tr:nth-child(2) a.button")
	tb.want(map[string]string{"#status": "Redeemed"})
	tb.accessible()
	tb.run(chromedp.Click("#sure", chromedp.ByQuery))
	tb.click("#cancel")
	tb.want(map[string]string{"#status": "Cancelled"})
	tb.click("#all-redemptions")
	want[1][3] = "Cancelled"
	if got := firstCells(); !reflect.DeepEqual(got, want) {
		t.Errorf("redemptions after cancelling %q, want %q", got, want)
	}
	if got := tb.text("#redemptions tbody tr:nth-child(2) td:last-child"); got != "Already cancelled" {
		t.Errorf("the cancelled one says %q, want Already cancelled", got)
	}
	var links int
	tb.run(chromedp.Evaluate(`document.querySelectorAll("#redemptions a.button").length`, &links))
	if links != 1 {
		t.Errorf("%d cancel links after cancelling one of two, want 1", links)
	}
	tb.accessible()
	if got := s.Balances(t, "C1").Points.Available; got != 2748-1000 {
		t.Errorf("available after cancelling the older %d, want 1,748", got)
	}
	tb.open(s.srv.URL + "/portal")
	tb.want(map[string]string{"#points-available": "1,748"})
}

// Redeeming and cancelling from the portal answer with the redemption's own
// page (303), so that its language switch leads to a page that exists and
// reloading sends nothing again. (They answered the page themselves, whose
// switch was a GET of the form's path: 404.)
func TestAfterRedeemingAndCancellingTheLanguageSwitchWorks(t *testing.T) {
	s := newSite(t)
	s.history(t)
	c, home := s.signedIn(t, "C1")
	confirm := get(t, c, s.srv.URL+"/portal/redeem/MUG")
	m := regexp.MustCompile(`name="redemption_id" value="([^"]+)"`).FindStringSubmatch(confirm.body)
	if confirm.status != http.StatusOK || m == nil {
		t.Fatalf("the confirmation: %d", confirm.status)
	}
	id := m[1]
	done := s.seeOther(t, c, post(t, c, s.srv.URL+"/portal/redeem", url.Values{"csrf": {home.csrf(t)}, "sku": {"MUG"},
		"redemption_id": {id}, "quantity": {"1"}}), "/portal/redemptions/"+id+"?done=redeemed")
	cancelled := s.seeOther(t, c, post(t, c, s.srv.URL+"/portal/redemptions/"+id+"/cancel", url.Values{"csrf": {done.csrf(t)}, "sure": {"yes"}}),
		"/portal/redemptions/"+id+"?done=cancelled")
	// Each says what it did, naming the product as the catalogue does.
	for p, want := range map[*page]string{&done: "兑换成功：Mug × 1，使用 500 积分。", &cancelled: "兑换已取消：500 积分已退回。"} {
		if !strings.Contains(p.body, `id="done">`+want+`</p>`) || !strings.Contains(p.body, `id="product">Mug × 1</dd>`) {
			t.Errorf("want %q and the product's name: %.1500s", want, p.body)
		}
	}
	// A message the redemption's status does not bear out is not shown.
	if p := get(t, c, s.srv.URL+"/portal/redemptions/"+id+"?done=redeemed"); p.status != http.StatusOK || strings.Contains(p.body, `id="done"`) {
		t.Errorf("a cancelled redemption's page with ?done=redeemed: %d, shows a message: %.1500s", p.status, p.body)
	}
	for what, p := range map[string]page{"the redemption": done, "the cancellation": cancelled} {
		link := regexp.MustCompile(`<a class="lang" href="([^"]*)"`).FindStringSubmatch(p.body)
		if link == nil {
			t.Fatalf("%s: no language switch", what)
		}
		if got := get(t, c, s.srv.URL+html.UnescapeString(link[1])); got.status != http.StatusOK {
			t.Errorf("%s's language switch %s: %d, want 200", what, link[1], got.status)
		}
	}
	if !strings.Contains(cancelled.body, `id="status"`) || strings.Contains(cancelled.body, `id="cancel"`) {
		t.Errorf("the page after the cancellation does not show it cancelled: %.500s", cancelled.body)
	}
}

// A refused redemption or cancellation answers at the form's path, which no
// GET serves: its language switch leads to the product's confirmation, or
// to the list of redemptions, not to a 404.
func TestTheLanguageSwitchOfARefusedFormLeadsToAPage(t *testing.T) {
	s := newSite(t)
	s.history(t)
	c, home := s.signedIn(t, "C1")
	for what, p := range map[string]page{
		"a redemption beyond the customer's points": post(t, c, s.srv.URL+"/portal/redeem", url.Values{"csrf": {home.csrf(t)},
			"sku": {"MUG"}, "redemption_id": {"web-too-many"}, "quantity": {"100"}}),
		"a redemption of no product": post(t, c, s.srv.URL+"/portal/redeem", url.Values{"csrf": {home.csrf(t)},
			"sku": {"no/such"}, "redemption_id": {"web-none"}, "quantity": {"1"}}),
		"a cancellation of no redemption": post(t, c, s.srv.URL+"/portal/redemptions/web-none/cancel",
			url.Values{"csrf": {home.csrf(t)}, "sure": {"yes"}}),
	} {
		if p.status < 400 {
			t.Errorf("%s: %d, want a refusal", what, p.status)
		}
		link := regexp.MustCompile(`<a class="lang" href="([^"]*)"`).FindStringSubmatch(p.body)
		if link == nil {
			t.Fatalf("%s (%d): no language switch", what, p.status)
		}
		if got := get(t, c, s.srv.URL+html.UnescapeString(link[1])); got.status != http.StatusOK {
			t.Errorf("%s (%d): its language switch %s answers %d", what, p.status, link[1], got.status)
		}
	}
}
