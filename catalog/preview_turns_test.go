package catalog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
)

// TestRedemptionPreviewsTakeTurnsOnAFeaturedProductOnly: a redemption
// locks a featured product for its stock, and a standard one only to share
// it. While the featured product's row is held, previews of it by six
// customers take turns on it in the server: one waits in the database's
// lock queue, not six. While customer A's preview of the standard product
// waits in the database (A's row held), B's preview of the same product is
// answered.
func TestRedemptionPreviewsTakeTurnsOnAFeaturedProductOnly(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10})
	e.Product(catalog.Product{SKU: "kite", Name: "Kite", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(100)})
	const customers = 6
	for i := range customers {
		id := fmt.Sprint("C", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "500", march(2, 9))
	}
	preview := func(ctx context.Context, customer, sku string) error {
		in := catalog.RedemptionInput{ID: "r-" + customer + "-" + sku, CustomerID: customer, SKU: sku, Quantity: 1, Preview: true}
		_, _, err := e.Catalog.Redeem(ctx, in, "test")
		return err
	}

	release := e.Hold(`SELECT FROM products WHERE sku = 'kite' FOR UPDATE`)
	var wg sync.WaitGroup
	for i := range customers {
		wg.Go(func() {
			if err := preview(e.Ctx, fmt.Sprint("C", i), "kite"); err != nil {
				t.Errorf("preview of kite by C%d: %v", i, err)
			}
		})
	}
	if n := e.LockWaitersWithin(time.Second, customers); n != 1 {
		t.Errorf("%d previews of the featured product wait in the database's lock queue, want 1", n)
	}
	release()
	wg.Wait()

	release = e.Hold(`SELECT FROM customers WHERE id = 'C0' FOR UPDATE`)
	wg.Go(func() {
		if err := preview(e.Ctx, "C0", "pen"); err != nil {
			t.Errorf("preview of pen by C0: %v", err)
		}
	})
	e.LockWaitersWithin(time.Minute, 1)
	ctx, cancel := context.WithTimeout(e.Ctx, 5*time.Second)
	defer cancel()
	if err := preview(ctx, "C1", "pen"); err != nil {
		t.Errorf("C1's preview of pen while C0's waits: %v", err)
	}
	release()
	wg.Wait()
}
