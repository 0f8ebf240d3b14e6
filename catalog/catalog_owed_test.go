package catalog_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/loyalty"
)

// TestCatalogueCountsAvailablePointsNetOfWhatIsOwed: a customer who owes
// points sees the catalogue by the points they may spend, net of what they
// owe (the profile's available), as a redemption draws on them (it settles
// what is owed first): a product the redemption would refuse with
// insufficient_points is not shown as redeemable. (Found by review: the
// catalogue counted the owed points as spendable.)
func TestCatalogueCountsAvailablePointsNetOfWhatIsOwed(t *testing.T) {
	e := newEnv(t)
	e.Customer("X")
	e.Customer("Y", "X")
	e.Product(catalog.Product{SKU: "cup", Name: "Cup", Kind: catalog.Standard, PointsPrice: 300})
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 400})
	// X earns 300 points, spends them, and the shipment is refunded: X owes 300.
	e.Ship("X", "XS1", "300", march(15, 10))
	if _, err := e.Redeem("X", "cup", 1); err != nil {
		t.Fatal(err)
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "X", "XS1", "300", march(15, 11)))
	// Y's first shipment, on 1 March, pays X a 500-point referral bonus
	// whose return window has ended: available at once, and not settled
	// against what X owes until X's next write.
	e.Ship("Y", "YS1", "100", march(1, 9))
	p := e.Points("X")
	if p.Owed != 300 || p.Available != 200 {
		t.Fatalf("X's points: %+v, want 300 owed and 200 available", p)
	}
	items, err := e.Catalog.Catalog(e.Ctx, "X")
	if err != nil {
		t.Fatal(err)
	}
	view := map[string]catalog.CatalogItem{}
	for _, it := range items {
		view[it.SKU] = it
	}
	if mug := view["mug"]; mug.Redeemable || mug.Reason == nil || *mug.Reason != fault.InsufficientPoints {
		t.Errorf("mug (400 points) for X with 200 available: %+v, want not redeemable, insufficient_points", mug)
	}
	if _, err := e.Redeem("X", "mug", 1); fault.CodeOf(err) != fault.InsufficientPoints {
		t.Fatalf("redeeming mug: %v, want insufficient_points, as the catalogue says", err)
	}
}
