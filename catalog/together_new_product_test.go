package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
)

// TestAProductAddedDuringAGroupIsLockedBeforeItIsRedeemed: a redemption
// of a product that does not exist yet when its group locks the group's
// products, but is added before the group reads them, holds the product's
// lock as a redemption alone does (lockForRedemption): taking the product
// out of the catalogue meanwhile waits for the redemption, so that no
// redemption of it is recorded after the product is out. The test steers
// the group with locks it holds: points_owed (the group waits there after
// locking its products, while the product is added), then the customer's
// points balance (the group waits there to write its entry, while the
// product is taken out).
func TestAProductAddedDuringAGroupIsLockedBeforeItIsRedeemed(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "500", march(1, 9))
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	// waiting reports whether a backend of this database waits for a lock
	// in a statement that names the table.
	waiting := func(table string) bool {
		var n int
		if err := e.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	awaitWaiting := func(table string) {
		t.Helper()
		for !waiting(table) {
			if ctx.Err() != nil {
				t.Fatalf("no transaction ever waited on %s", table)
			}
			time.Sleep(time.Millisecond)
		}
	}
	owed, err := e.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer owed.Rollback(ctx)
	if _, err := owed.Exec(ctx, `LOCK TABLE points_owed IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		r   catalog.Redemption
		err error
	}
	redeemed := make(chan answer, 1)
	go func() {
		r, _, err := e.Catalog.Redeem(ctx, catalog.RedemptionInput{ID: "first", CustomerID: "C1", SKU: "new", Quantity: 1}, "test")
		redeemed <- answer{r, err}
	}()
	awaitWaiting("points_owed") // the group has locked its products (none) and waits
	e.Product(catalog.Product{SKU: "new", Name: "New", Kind: catalog.Standard, PointsPrice: 10})
	balance, err := e.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer balance.Rollback(ctx)
	if _, err := balance.Exec(ctx, `SELECT FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = 'customer:C1:points' FOR UPDATE OF b`); err != nil {
		t.Fatal(err)
	}
	if err := owed.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	awaitWaiting("balance_buckets") // the group has read the product and waits to write its entry
	outs := make(chan error, 1)
	go func() {
		_, err := e.Catalog.UpdateProduct(ctx, "new", catalog.ProductPatch{Active: ptr(false)})
		outs <- err
	}()
	// Taking the product out either returns (it did not wait for the
	// redemption) or waits for it.
	out := false
	for !out && !waiting("FROM products") {
		select {
		case err := <-outs:
			if err != nil {
				t.Fatal(err)
			}
			out = true
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			t.Fatal("taking the product out neither returned nor waited")
		}
	}
	if err := balance.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a := <-redeemed
	if !out {
		if err := <-outs; err != nil {
			t.Fatal(err)
		}
	}
	// The product was in the catalogue when the redemption read it, so it is
	// made, and must then be committed before the product is out.
	switch {
	case a.err != nil:
		t.Errorf("redeeming: %v", a.err)
	case out:
		t.Errorf("redemption %s of %s recorded after the product was taken out of the catalogue", a.r.ID, a.r.SKU)
	}
	var active bool
	if err := e.Pool.QueryRow(ctx, `SELECT active FROM products WHERE sku = 'new'`).Scan(&active); err != nil {
		t.Fatal(err)
	}
	if active {
		t.Errorf("the product is still in the catalogue")
	}
}
