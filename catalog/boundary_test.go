package catalog_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestRedemptionAtExactlyExpiresAtCannotUseTheLotExpiringThen: a lot can be
// spent one instant (a microsecond, PostgreSQL's precision) before its
// expires_at, and not at it, though its points stay in the balance until
// the expiry job takes them.
func TestRedemptionAtExactlyExpiresAtCannotUseTheLotExpiringThen(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9)) // lot A, expires 2027-04-01
	e.Clock.Set(time.Date(2026, 4, 5, 12, 0, 0, 0, shanghai))
	e.Ship("C1", "S2", "100", time.Date(2026, 4, 2, 9, 0, 0, 0, shanghai)) // lot B, expires 2027-05-01
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 60})
	expiresAt := time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai) // lot A's: March's lots expire at the end of the 12th month after

	// One instant before, lot A is the soonest to expire: it is spent first,
	// and the customer is told it expires within the next instant.
	e.Clock.Set(expiresAt.Add(-time.Microsecond))
	if p := e.Points("C1"); p.Balance != 200 || p.Available != 200 {
		t.Errorf("one instant before: %+v, want 200 available", p)
	}
	soon, err := e.Loyalty.Expiring(e.Ctx, "C1", time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(soon) != 1 || soon[0].Date != "2027-04-01" || soon[0].Points != 100 {
		t.Errorf("expiring within an instant: %+v, want lot A's 100", soon)
	}
	if _, err := e.Redeem("C1", "pen", 1); err != nil {
		t.Fatal(err)
	}
	e.WantLots(t, "C1", "2027-04-01:40", "2027-05-01:100")

	// At expires_at lot A's 40 are still in the balance (the expiry job has
	// not run) but cannot be spent: a redemption draws on lot B only.
	e.Clock.Set(expiresAt)
	if p := e.Points("C1"); p.Balance != 140 || p.Available != 100 {
		t.Errorf("at expires_at: %+v, want 140 held, 100 available", p)
	}
	if soon, err := e.Loyalty.Expiring(e.Ctx, "C1", 31*24*time.Hour); err != nil || len(soon) != 1 || soon[0].Date != "2027-05-01" {
		t.Errorf("expiring at expires_at: %+v, %v; want only lot B", soon, err)
	}
	if _, err := e.Redeem("C1", "pen", 1); err != nil {
		t.Fatal(err)
	}
	e.WantLots(t, "C1", "2027-04-01:40", "2027-05-01:40")
	// 40 available, 80 held: a pen is refused, and nothing is written.
	entries, redemptions := e.TableRows("entries"), e.TableRows("redemptions")
	_, err = e.Redeem("C1", "pen", 1)
	servicetest.WantCode(t, err, fault.InsufficientPoints)
	if e.TableRows("entries") != entries || e.TableRows("redemptions") != redemptions {
		t.Errorf("a refused redemption wrote entries or redemptions")
	}
	e.WantLots(t, "C1", "2027-04-01:40", "2027-05-01:40")
	e.WantBalanceOf(t, "customer:C1:points", "80")
	e.WantBalanceOf(t, "platform:points:redeemed", "120")

	// The expiry job takes exactly what could no longer be spent.
	rep, err := e.Loyalty.Expire(e.Ctx, expiresAt, "test", nil)
	if err != nil || rep.Points != 40 {
		t.Errorf("expiry at expires_at: %+v, %v; want lot A's 40", rep, err)
	}
	e.WantBalanceOf(t, "customer:C1:points", "40")
	e.Reconcile()
}
