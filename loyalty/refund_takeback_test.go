package loyalty_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Points a refund let go before shortfalls were owed (points_dropped, kept
// from before migration 0009) count as already reversed: a 100 CNY shipment
// that earned 100 points, 30 CNY of it refunded then with its 30 points let
// go, has round_half_up(100 × 100 / 100) − 30 = 70 points due when the other
// 70 CNY are refunded (DOMAIN.md: never more than is still unreversed).
func TestARefundCountsThePointsEarlierRefundsLetGo(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // floating x1.0: 100 points
	e.Ship("C1", "S2", "200", march(2, 9)) // 200 more to take back from
	// An earlier refund of 30 CNY, from before shortfalls were owed, that let its 30 points go.
	if _, err := e.Pool.Exec(e.Ctx, `UPDATE shipments SET refunded = 30, points_dropped = 30 WHERE shipment_id = 'S1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Pool.Exec(e.Ctx, `UPDATE customer_months SET contribution = contribution - 30 WHERE customer_id = 'C1'`); err != nil {
		t.Fatal(err)
	}
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "70", march(3, 9)))
	if res.Refund == nil || res.Refund.PointsDue != 70 || res.Refund.PointsTakenBack != 70 || res.Points != -70 {
		t.Errorf("refund %+v, points %d; want 70 due and taken back", res.Refund, res.Points)
	}
	e.WantBalanceOf(t, ledger.CustomerAccount("C1", "points"), "230")
}

// A shipment refunded in two halves, all its points spent, gives each
// earning channel back what it gave, the volume channel's first: 100 CNY in
// a campaign of x2 earn 100 volume and 100 campaign points (DOMAIN.md); the
// first half owes 100 (volume), the second 100 more (campaign), and both
// channels end at zero.
func TestARefundInHalvesGivesEachChannelBackWhatItGave(t *testing.T) {
	e := newEnv(t)
	e.createCampaign("double", march(1, 0), march(31, 0))
	e.Customer("C1")
	res := e.Ship("C1", "S1", "100", march(2, 9))
	if res.Earning == nil || res.Earning.Volume != 100 || res.Earning.CampaignPoints != 100 {
		t.Fatalf("earning %+v, want 100 volume and 100 campaign points", res.Earning)
	}
	e.Product(catalog.Product{SKU: "all", Name: "All of it", Kind: catalog.Standard, PointsPrice: 200})
	if _, err := e.Redeem("C1", "all", 1); err != nil {
		t.Fatal(err)
	}
	for _, day := range []int{3, 4} {
		r := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "50", march(day, 9)))
		if r.Refund == nil || r.Refund.PointsDue != 100 || r.Refund.PointsOwed != 100 {
			t.Errorf("refund of the %dth: %+v, want 100 due, all owed", day, r.Refund)
		}
	}
	e.WantBalanceOf(t, "platform:points:earned:volume", "0")
	e.WantBalanceOf(t, "platform:points:earned:campaign", "0")
	e.wantPoints(t, "C1", 0, 200)
}
