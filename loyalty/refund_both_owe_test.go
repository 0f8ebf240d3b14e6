package loyalty_test

import (
	"slices"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/loyalty"
)

// One refund can leave two shortfalls, each owed on its own row: a late full
// refund (dated inside the return window) of a referee's 80 CNY shipment
// takes back its 80 points, all spent, so 80 are owed; and cancels the
// referrer's 500-point bonus, of which 400 were spent: 100 taken back, 400
// owed (DOMAIN.md, "Returns and pending points").
func TestARefundOwedByRefereeAndReferrerRecordsBothShortfalls(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	e.Ship("E", "S1", "80", march(1, 9)) // 80 points; R's bonus available from the 15th, 09:00
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 400})
	e.Product(catalog.Product{SKU: "cap", Name: "Cap", Kind: catalog.Standard, PointsPrice: 80})
	for _, r := range [][2]string{{"R", "pen"}, {"E", "cap"}} {
		if _, err := e.Redeem(r[0], r[1], 1); err != nil {
			t.Fatal(err)
		}
	}
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "E", "S1", "80", march(10, 9)))
	if res.Refund == nil || res.Refund.PointsDue != 80 || res.Refund.PointsTakenBack != 0 || res.Refund.PointsOwed != 80 ||
		res.Referral == nil || res.Referral.Points != -100 || res.Referral.PointsOwed != 400 {
		t.Errorf("refund %+v, referral %+v; want 80 due, none taken back, 80 owed; the bonus's 100 left taken back, 400 owed",
			res.Refund, res.Referral)
	}
	e.wantPoints(t, "E", 0, 80)
	e.wantPoints(t, "R", 0, 400)
	if got := e.owedRows("E"); !slices.Equal(got, []owedRow{{80, 80, 0}}) {
		t.Errorf("E's points_owed %v, want 80 due, 80 owed", got)
	}
	if got := e.owedRows("R"); !slices.Equal(got, []owedRow{{500, 400, 0}}) {
		t.Errorf("R's points_owed %v, want 500 due, 400 owed", got)
	}
}
