package catalog_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestEachTransactionOfTheCatalogueHasOneClock runs the catalogue on a clock
// that moves on a second each time it is read, and checks that what one
// transaction writes (the redemption's row and its entry) bears one instant.
func TestEachTransactionOfTheCatalogueHasOneClock(t *testing.T) {
	e := servicetest.NewTicking(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "1000", servicetest.Start.Add(-time.Hour))

	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10})
	r, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: "r1", CustomerID: "C1", SKU: "pen", Quantity: 1}, "test")
	if err != nil {
		t.Fatal(err)
	}
	red := e.Entry(r.EntryID)
	servicetest.WantOneInstant(t, "a redemption created, its entry effective and recorded", r.CreatedAt, red.EffectiveAt, red.RecordedAt)
	c, err := e.Catalog.CancelRedemption(e.Ctx, "", "r1", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	cancel := e.Entry(*c.CancelEntryID)
	servicetest.WantOneInstant(t, "a redemption cancelled, its entry effective and recorded", *c.CancelledAt, cancel.EffectiveAt, cancel.RecordedAt)
}
