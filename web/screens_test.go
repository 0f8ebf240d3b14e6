package web_test

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/web"
)

var screensDir = flag.String("screens", "", "write screenshots of every page to this directory (make screens)")

// showcase is five months of business for twelve customers, from November
// 2025 to the clock's 15 March 2026, for the screenshots: shipments every
// month, deposits and charges, a redemption.
func (s *site) showcase(t *testing.T) {
	t.Helper()
	start := time.Date(2025, 11, 1, 0, 0, 0, 0, servicetest.Shanghai)
	s.Clock.Set(start)
	for i := 3; i <= 12; i++ {
		s.Customer(fmt.Sprintf("C%d", i))
	}
	for m := 0; m < 5; m++ {
		month := start.AddDate(0, m, 0)
		now := month.AddDate(0, 1, -1).Add(12 * time.Hour) // the month's last day
		if now.After(servicetest.Start) {
			now = servicetest.Start
		}
		s.Clock.Set(now)
		for i := 3; i <= 12; i++ {
			amount := fmt.Sprintf("%d.%02d", 80*i*i+m*137, (i*7+m)%100)
			s.Ship(fmt.Sprintf("C%d", i), fmt.Sprintf("S-%d-%d", m, i), amount, month.AddDate(0, 0, 2+i))
		}
		s.MoneyAt(t, prepaid.Deposit, fmt.Sprintf("SD-%d", m), fmt.Sprintf("C%d", 3+m), fmt.Sprint(2000+m*4000), month.AddDate(0, 0, 5))
		s.MoneyAt(t, prepaid.Charge, fmt.Sprintf("SCH-%d", m), fmt.Sprintf("C%d", 3+m), fmt.Sprint(2000+m*4000+10*(m+1)), month.AddDate(0, 0, 8))
	}
	s.Clock.Set(servicetest.Start)
	s.history(t)
	s.Product(catalog.Product{SKU: "UMBRELLA", Name: "雨伞 Umbrella", Kind: catalog.Standard, PointsPrice: 1200, Active: true})
	if _, _, err := s.Catalog.Redeem(s.Ctx, catalog.RedemptionInput{ID: "R-1", CustomerID: "C1", SKU: "MUG", Quantity: 1,
		Space: "customer:C1"}, "showcase"); err != nil {
		t.Fatal(err)
	}
}

// TestScreens writes a phone and a desktop screenshot of every page to the
// -screens directory; without the flag it has nothing to do.
func TestScreens(t *testing.T) {
	if *screensDir == "" {
		t.Skip("make screens sets -screens")
	}
	if err := os.MkdirAll(*screensDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSite(t)
	s.showcase(t)
	portal := []struct{ name, path string }{
		{"portal-overview", "/portal"}, {"portal-statement", "/portal/statement"}, {"portal-catalog", "/portal/catalog"},
		{"portal-redeem", "/portal/redeem/MUG"}, {"portal-redemptions", "/portal/redemptions"},
		{"portal-prepaid", "/portal/prepaid"},
	}
	console := []struct{ name, path string }{
		{"console-trial-balance", "/console"}, {"console-rebates", "/console/rebates?from=2025-11&to=2026-03"},
		{"console-points", "/console/points?from=2025-11&to=2026-03"}, {"console-segments", "/console/segments?month=2026-03"},
		{"console-reconciliation", "/console/reconciliation"},
	}
	for _, device := range []string{"phone", "desktop"} {
		tb := newTab(t)
		if device == "phone" {
			tb.phone()
		}
		shoot := func(name string) {
			var png []byte
			tb.run(chromedp.FullScreenshot(&png, 100))
			if err := os.WriteFile(filepath.Join(*screensDir, name+"-"+device+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tb.open(s.srv.URL + "/portal/signin")
		shoot("portal-signin")
		tb.open(s.portalLink(t, "C1"))
		shoot("portal-enter")
		tb.click("#enter")
		for _, p := range portal {
			tb.open(s.srv.URL + p.path)
			shoot(p.name)
		}
		// The page a customer with 8 pages in flight is refused (their
		// other session's redemptions of nothing, held on their lock).
		c, home := s.signedIn(t, "C1")
		answers, release := s.holdRedemptions(t, c, home.csrf(t), "NO-SUCH", web.PortalInFlight)
		if got := s.inFlightOf("C1"); got != web.PortalInFlight {
			t.Fatalf("%d of C1's redemptions held, want %d", got, web.PortalInFlight)
		}
		tb.openRefused(s.srv.URL+"/portal/statement", http.StatusTooManyRequests)
		shoot("portal-busy")
		release()
		for range web.PortalInFlight {
			<-answers
		}
		tb.open(s.srv.URL + "/portal/redeem/MUG")
		tb.click("#confirm")
		shoot("portal-redemption")
		tb.open(s.srv.URL + "/portal?lang=en")
		shoot("portal-overview-en")
		tb.open(s.srv.URL + "/console/signin?lang=zh-CN")
		shoot("console-signin")
		tb.signInToConsole(s.srv.URL, s.keys["finance"])
		for _, p := range console {
			tb.open(s.srv.URL + p.path)
			shoot(p.name)
		}
	}
}
