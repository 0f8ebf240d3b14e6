package loyalty_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/loyalty"
)

// Points that reach a customer without a write of theirs (a referral bonus
// becoming available) settle what they owe at their next write, an event
// of theirs even when it earns nothing: R owes 90, their 500-point
// referral bonus becomes available, and R's shipment of 0.50 (worth no
// points) settles the 90 from the bonus, grouped or alone.
func TestAnEventOfTheirsWorthNoPointsSettlesWhatTheyOwe(t *testing.T) {
	for _, alone := range []bool{false, true} {
		name := "grouped"
		if alone {
			name = "event by event"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.sendEventByEvent(alone)
			e.Customer("R")
			e.Customer("E", "R")
			e.Ship("R", "SR", "100", march(1, 9))
			e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 100})
			if _, err := e.Redeem("R", "mug", 1); err != nil {
				t.Fatal(err)
			}
			e.MustProcess(e.Event(loyalty.ShipmentRefunded, "R", "SR", "90", march(2, 9))) // 90 due, none held: owed
			e.Ship("E", "SE", "80", march(10, 9))                                          // R's 500, pending until March 24
			e.Clock.Set(march(25, 9))
			e.wantPoints(t, "R", 500, 90)

			res := e.Ship("R", "SR2", "0.50", march(25, 8)) // an event of R's, worth 0 points
			if res.Points != 0 {
				t.Fatalf("0.50 earned %d points, want 0", res.Points)
			}
			// Expected: the 90 owed settled from the bonus now available.
			e.wantPoints(t, "R", 410, 0)
			if got := e.owedRows("R"); len(got) != 1 || got[0].settled != 90 {
				t.Errorf("points_owed %v, want the 90 settled", got)
			}
		})
	}
}
