package loyalty_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/loyalty"
)

// A statement writes the points a refund left owed as the whole number they
// are, however large: a refund that leaves millions of points owed says so
// in digits, never in exponent notation.
func TestStatementWritesLargeOwedPointsInDigits(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	earned := e.Ship("C1", "S1", "2000000", march(1, 9)).Points
	if earned < 1_000_000 {
		t.Fatalf("the shipment earned %d points, want a million or more", earned)
	}
	e.Product(catalog.Product{SKU: "car", Name: "Car", Kind: catalog.Standard, PointsPrice: earned - 10})
	if _, err := e.Redeem("C1", "car", 1); err != nil {
		t.Fatal(err)
	}
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "2000000", march(2, 9)))
	if res.Refund == nil || res.Refund.PointsOwed != earned-10 {
		t.Fatalf("refund %+v, want %d owed", res.Refund, earned-10)
	}
	want := fmt.Sprintf("%d points taken back for the refund of shipment S1; %d more owed, settled from the next points you receive",
		res.Refund.PointsTakenBack, res.Refund.PointsOwed)
	got := e.statementLines("C1")
	if !slices.Contains(got, want) {
		t.Errorf("statement %q\nwant the line %q", strings.Join(got, "\n"), want)
	}
	e.Reconcile()
}
