package catalog_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/notifytest"
)

// redemptionNotices are the redemption notifications after cur as
// "type customer id sku quantity points reason", each entry's movement of
// the customer's points read from the books, and the feed's end.
func (e *env) redemptionNotices(t *testing.T, cur notify.Cursor) ([]string, notify.Cursor) {
	t.Helper()
	list, next := notifytest.Read(t, e.Ledger, cur)
	var out []string
	for _, n := range list {
		p := notifytest.Payload(t, n)
		entry := p["entry_id"]
		if n.Type == notify.RedemptionCancelled {
			entry = p["cancel_entry_id"]
		}
		var moved string
		for _, posting := range e.Entry(int64(entry.(float64))).Postings {
			if posting.Account == "customer:"+n.Customer+":points" {
				moved = posting.Amount.String()
			}
		}
		out = append(out, fmt.Sprintf("%s %s %v %v %v %v %v books:%s", n.Type, n.Customer, p["redemption_id"], p["sku"],
			p["quantity"], p["points"], p["reason"], moved))
	}
	return out, next
}

// A redemption announces itself, a cancellation its return with the
// reason; a replay, a refused redemption and a second cancellation announce
// nothing. The points are the price times the quantity, and the books' entry
// moved exactly them.
func TestRedemptionsAnnounceTheirCreationAndCancellation(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9)) // 100 points
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 30})
	cur := notifytest.End(t, e.Ledger)

	in := catalog.RedemptionInput{ID: "r1", CustomerID: "C1", SKU: "mug", Quantity: 2, Space: e.Key.Space()}
	r, _, err := e.Catalog.Redeem(e.Ctx, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, replayed, err := e.Catalog.Redeem(e.Ctx, in, "test"); err != nil || !replayed {
		t.Fatalf("the retry: replayed %v, %v", replayed, err)
	}
	_, _, err = e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: "r2", CustomerID: "C1", SKU: "mug", Quantity: 2,
		Space: e.Key.Space()}, "test") // 60 of the 40 left
	servicetest.WantCode(t, err, fault.InsufficientPoints)
	got, cur := e.redemptionNotices(t, cur)
	if want := []string{"redemption.created C1 r1 mug 2 60 <nil> books:-60"}; !slices.Equal(got, want) {
		t.Fatalf("a redemption, its retry and a refused one announced %q, want %q", got, want)
	}

	if _, err := e.Catalog.CancelRedemption(e.Ctx, r.Space, r.ID, "broken on arrival", "test"); err != nil {
		t.Fatal(err)
	}
	_, err = e.Catalog.CancelRedemption(e.Ctx, r.Space, r.ID, "again", "test")
	servicetest.WantCode(t, err, fault.AlreadyCancelled)
	got, _ = e.redemptionNotices(t, cur)
	if want := []string{"redemption.cancelled C1 r1 mug 2 60 broken on arrival books:60"}; !slices.Equal(got, want) {
		t.Fatalf("a cancellation and a second one announced %q, want %q", got, want)
	}
}
