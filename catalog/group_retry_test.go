package catalog_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// redeemSetup: customers A and B with points, N with none; a kite
// (featured, 3 in stock, at most 2 per customer), a pen (standard).
func (e *env) redeemSetup(t *testing.T) {
	for _, c := range []string{"A", "B", "N"} {
		e.Customer(c)
	}
	e.Ship("A", "SA", "9000", march(2, 9))
	e.Ship("B", "SB", "9000", march(2, 9))
	e.Product(catalog.Product{SKU: "kite", Name: "Kite", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(3), PerCustomerLimit: ptr(2)})
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 7})
	if _, _, errs := e.Catalog.RedeemGroup(e.Ctx, []catalog.RedemptionInput{{ID: "old", CustomerID: "A", SKU: "pen", Quantity: 1}}, "test", false); errs[0] != nil {
		t.Fatal(errs[0])
	}
}

func mixedRedemptions() []catalog.RedemptionInput {
	return []catalog.RedemptionInput{
		{ID: "g1", CustomerID: "A", SKU: "kite", Quantity: 1},
		{ID: "g2", CustomerID: "A", SKU: "kite", Quantity: 2}, // A's limit
		{ID: "g3", CustomerID: "B", SKU: "kite", Quantity: 2},
		{ID: "old", CustomerID: "A", SKU: "pen", Quantity: 1}, // a replay
		{ID: "old", CustomerID: "A", SKU: "pen", Quantity: 2}, // a conflict
		{ID: "g4", CustomerID: "N", SKU: "pen", Quantity: 1},  // no points
		{ID: "g5", CustomerID: "B", SKU: "pen", Quantity: 1},
	}
}

// checkRedemptions checks the answers against the rows and the stock.
func (e *env) checkRedemptions(t *testing.T, ins []catalog.RedemptionInput, rs []catalog.Redemption, replayed []bool, errs []error,
	want []fault.Code, stock int) {
	t.Helper()
	for i, in := range ins {
		if got := fault.CodeOf(errs[i]); got != want[i] {
			t.Errorf("%s: %v (code %q), want %q", in.ID, errs[i], got, want[i])
			continue
		}
		if errs[i] != nil {
			continue
		}
		var entry int64
		var quantity int
		if err := e.Pool.QueryRow(e.Ctx, `SELECT coalesce(entry_id, -1), quantity FROM redemptions WHERE id = $1`, in.ID).
			Scan(&entry, &quantity); err != nil {
			t.Fatalf("%s: %v", in.ID, err)
		}
		if entry != rs[i].EntryID || quantity != rs[i].Quantity || replayed[i] != (in.ID == "old") {
			t.Errorf("%s answered %+v (replayed %v), recorded entry %d quantity %d", in.ID, rs[i], replayed[i], entry, quantity)
		}
	}
	if got := e.stock(t, "kite"); got != stock {
		t.Errorf("kite stock %d, want %d", got, stock)
	}
}

// TestARedemptionGroupRetriedAfterItsCommittingBatchFailedIsExact:
// the group's writes (sent with the COMMIT) fail once with a deadlock; the
// retry must answer as the first attempt would have: stock, limits and
// points decided afresh.
func TestARedemptionGroupRetriedAfterItsCommittingBatchFailedIsExact(t *testing.T) {
	e := newEnv(t)
	e.redeemSetup(t)
	e.FailOnce(t, "redemptions", "40P01")
	retries := e.Ledger.Stats().Retries.Load()
	ins := mixedRedemptions()
	rs, replayed, errs := e.Catalog.RedeemGroup(e.Ctx, ins, "test", false)
	if n := e.Ledger.Stats().Retries.Load() - retries; n != 1 {
		t.Errorf("%d retries, want 1", n)
	}
	if n := e.Catalog.Stats().Fallbacks.Load(); n != 0 {
		t.Errorf("%d fallbacks, want 0", n)
	}
	e.checkRedemptions(t, ins, rs, replayed, errs,
		[]fault.Code{"", fault.LimitReached, "", "", fault.IdempotencyConflict, fault.InsufficientPoints, ""}, 0)
}

// TestARedemptionGroupRetriedAfterADeadlockInItsReadsRereadsThem: a
// writer holds the kite's row and then wants A's lock while the group
// (holding A) waits for the kite: PostgreSQL aborts the group, which is
// retried. The writer cut the stock to 1 meanwhile: the retry must see it.
func TestARedemptionGroupRetriedAfterADeadlockInItsReadsRereadsThem(t *testing.T) {
	e := newEnv(t)
	e.redeemSetup(t)
	ins := mixedRedemptions()
	var r struct {
		rs       []catalog.Redemption
		replayed []bool
		errs     []error
	}
	retries := e.Deadlock(t, func(tx *ledger.Tx) error {
		_, err := tx.Exec(e.Ctx, `UPDATE products SET stock = 1 WHERE sku = 'kite'`)
		return err
	}, func(tx *ledger.Tx) error {
		_, err := tx.Exec(e.Ctx, `SELECT FROM customers WHERE id = 'A' FOR UPDATE`)
		return err
	}, func() { r.rs, r.replayed, r.errs = e.Catalog.RedeemGroup(e.Ctx, ins, "test", false) })
	if retries < 1 {
		t.Errorf("%d retries, want at least 1", retries)
	}
	e.checkRedemptions(t, ins, r.rs, r.replayed, r.errs,
		[]fault.Code{"", fault.OutOfStock, fault.OutOfStock, "", fault.IdempotencyConflict, fault.InsufficientPoints, ""}, 0)
}
