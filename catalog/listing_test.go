package catalog_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
)

// redeemIn redeems q pens for the customer under id in the space.
func (e *env) redeemIn(t *testing.T, space, id, customer string, q int) catalog.Redemption {
	t.Helper()
	r, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: id, CustomerID: customer, SKU: "pen", Quantity: q,
		Space: space}, "test")
	if err != nil {
		t.Fatalf("redeem %s/%s: %v", space, id, err)
	}
	return r
}

// listed is each listed redemption as space/id:points:status:reason.
func listed(rs []catalog.CustomerRedemption) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s/%s:%d:%s:%s", r.Space, r.ID, r.Points, r.Status, r.Reason))
	}
	return out
}

func wantListed(t *testing.T, got []catalog.CustomerRedemption, want ...string) {
	t.Helper()
	if g := listed(got); fmt.Sprint(g) != fmt.Sprint(want) {
		t.Errorf("listed\n %v\nwant\n %v", g, want)
	}
}

// TestCustomerRedemptionsListEverySpaceNewestFirstAndSayWhichTheSpaceMayCancel:
// a customer's redemptions by the customer's key and by a partner's are all
// listed, the latest first, another customer's never; the customer's space
// may cancel only its own ones not cancelled, an admin (any space) every
// one not cancelled.
func TestCustomerRedemptionsListEverySpaceNewestFirstAndSayWhichTheSpaceMayCancel(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.Ship("C1", "S1", "1000", march(10, 9)) // floating, x1.0: 1,000 points
	e.Ship("C2", "S2", "1000", march(10, 9))
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	own := "customer:C1"
	e.redeemIn(t, own, "a", "C1", 1)
	e.redeemIn(t, "partner:7", "a", "C1", 2) // the same id in the partner's space
	e.redeemIn(t, own, "b", "C1", 3)
	e.redeemIn(t, "customer:C2", "a", "C2", 4)
	if _, err := e.Catalog.CancelRedemption(e.Ctx, own, "a", "", "test"); err != nil {
		t.Fatal(err)
	}

	got, next, err := e.Catalog.CustomerRedemptions(e.Ctx, "C1", own, 0, 10)
	if err != nil || next != 0 {
		t.Fatalf("list: next %d, %v", next, err)
	}
	wantListed(t, got,
		"customer:C1/b:300:redeemed:",
		"partner:7/a:200:redeemed:other_space",
		"customer:C1/a:100:cancelled:already_cancelled")
	for _, r := range got {
		if r.Product != "Pen" || r.Cancellable != (r.Reason == "") {
			t.Errorf("%s/%s: product %q, cancellable %v with reason %q", r.Space, r.ID, r.Product, r.Cancellable, r.Reason)
		}
	}
	got, _, err = e.Catalog.CustomerRedemptions(e.Ctx, "C1", ledger.AnySpace, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantListed(t, got,
		"customer:C1/b:300:redeemed:",
		"partner:7/a:200:redeemed:",
		"customer:C1/a:100:cancelled:already_cancelled")
	got, _, err = e.Catalog.CustomerRedemptions(e.Ctx, "C2", "customer:C2", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantListed(t, got, "customer:C2/a:400:redeemed:")
}

// TestCustomerRedemptionsArePagedByCursor: five redemptions in pages of
// two are 2, 2 and 1, each page older than the one before, the last with no
// cursor; a redemption made between two pages shows on none of the later
// ones.
func TestCustomerRedemptionsArePagedByCursor(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "1000", march(10, 9))
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	for i := 1; i <= 5; i++ {
		e.redeemIn(t, "customer:C1", fmt.Sprintf("r%d", i), "C1", 1)
	}
	var ids []string
	var cursor int64
	pages := 0
	for {
		got, next, err := e.Catalog.CustomerRedemptions(e.Ctx, "C1", "customer:C1", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if pages == 0 {
			e.redeemIn(t, "customer:C1", "late", "C1", 1)
		}
		pages++
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if len(got) != 2 && next != 0 {
			t.Errorf("page %d: %d redemptions and a cursor %d", pages, len(got), next)
		}
		if next == 0 {
			break
		}
		if next != got[len(got)-1].EntryID {
			t.Errorf("page %d: cursor %d, want its last redemption's entry %d", pages, next, got[len(got)-1].EntryID)
		}
		cursor = next
	}
	if fmt.Sprint(ids) != "[r5 r4 r3 r2 r1]" || pages != 3 {
		t.Errorf("%d pages of %v, want 3 of [r5 r4 r3 r2 r1]", pages, ids)
	}
}

func TestCustomerRedemptionsRefusals(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	_, _, err := e.Catalog.CustomerRedemptions(e.Ctx, "ghost", "customer:ghost", 0, 10)
	servicetest.WantCode(t, err, fault.UnknownCustomer)
	for _, limit := range []int{0, catalog.MaxRedemptionsPage + 1} {
		_, _, err = e.Catalog.CustomerRedemptions(e.Ctx, "C1", "customer:C1", 0, limit)
		servicetest.WantCode(t, err, fault.Invalid)
	}
	_, _, err = e.Catalog.CustomerRedemptions(e.Ctx, "C1", "customer:C1", -1, 10)
	servicetest.WantCode(t, err, fault.Invalid)
	got, next, err := e.Catalog.CustomerRedemptions(e.Ctx, "C1", "customer:C1", 0, catalog.MaxRedemptionsPage)
	if err != nil || len(got) != 0 || got == nil || next != 0 {
		t.Errorf("no redemptions: %v (nil %v), next %d, %v; want an empty list", got, got == nil, next, err)
	}
}
