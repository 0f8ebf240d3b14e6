package catalog_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestCancelRedemptionWithKeyReplaysItsCancellationOnly: a cancellation
// with a key answers replayed = false; its retry (same key, same request)
// answers the same cancelled redemption with replayed = true and returns no
// points a second time; the key with another request, another key, no key,
// and the key on another cancelled redemption are refused with their codes.
func TestCancelRedemptionWithKeyReplaysItsCancellationOnly(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "1000", march(10, 9)) // 1,000 points
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	space := "customer:C1"
	r := e.redeemIn(t, space, "a", "C1", 2)
	other := e.redeemIn(t, space, "b", "C1", 1)
	if p := e.Points("C1"); p.Available != 700 {
		t.Fatalf("after redeeming 3 pens: %d available, want 700", p.Available)
	}
	hash := []byte("request a")

	first, replayed, err := e.Catalog.CancelRedemptionWithKey(e.Ctx, space, "a", "changed my mind", "test", "k-a", hash)
	if err != nil || replayed || first.ID != "a" || first.Status != "cancelled" || first.CancelEntryID == nil {
		t.Fatalf("cancel: %+v, replayed %v, %v; want a cancelled, not replayed", first, replayed, err)
	}
	if p := e.Points("C1"); p.Available != 900 {
		t.Errorf("after the cancellation: %d available, want 900", p.Available)
	}

	again, replayed, err := e.Catalog.CancelRedemptionWithKey(e.Ctx, space, "a", "changed my mind", "test", "k-a", hash)
	if err != nil || !replayed {
		t.Fatalf("retry: replayed %v, %v; want the cancellation replayed", replayed, err)
	}
	if again.ID != r.ID || again.Space != space || again.Status != "cancelled" || again.CancelEntryID == nil ||
		*again.CancelEntryID != *first.CancelEntryID || again.EntryID != r.EntryID || again.Points != r.Points {
		t.Errorf("retry answered %+v, want the cancellation %+v", again, first)
	}
	if p := e.Points("C1"); p.Available != 900 {
		t.Errorf("after the retry: %d available, want still 900", p.Available)
	}

	_, replayed, err = e.Catalog.CancelRedemptionWithKey(e.Ctx, space, "a", "other", "test", "k-a", []byte("request a'"))
	servicetest.WantCode(t, err, fault.IdempotencyConflict)
	if replayed {
		t.Error("the key with another request: replayed")
	}
	_, replayed, err = e.Catalog.CancelRedemptionWithKey(e.Ctx, space, "a", "", "test", "k-other", hash)
	servicetest.WantCode(t, err, fault.AlreadyCancelled)
	if replayed {
		t.Error("another key: replayed")
	}
	_, replayed, err = e.Catalog.CancelRedemptionWithKey(e.Ctx, space, "a", "", "test", "", nil)
	servicetest.WantCode(t, err, fault.AlreadyCancelled)
	if replayed {
		t.Error("no key: replayed")
	}

	// b, cancelled without a key; then k-a with a's very request names b:
	// its entry did not cancel b.
	if _, err := e.Catalog.CancelRedemption(e.Ctx, space, other.ID, "", "test"); err != nil {
		t.Fatal(err)
	}
	_, replayed, err = e.Catalog.CancelRedemptionWithKey(e.Ctx, space, other.ID, "changed my mind", "test", "k-a", hash)
	servicetest.WantCode(t, err, fault.IdempotencyConflict)
	if replayed {
		t.Error("the key on another redemption: replayed")
	}
	if p := e.Points("C1"); p.Available != 1000 {
		t.Errorf("at the end: %d available, want 1000", p.Available)
	}
	e.Reconcile()
}
