package catalog_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// A catalogue with no products is an empty list (a JSON [], not null); the
// catalogue of an unknown customer is refused as such.
func TestCatalogOfNoProductsIsEmptyAndOfNoCustomerRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	items, err := e.Catalog.Catalog(e.Ctx, "C1")
	if err != nil || items == nil || len(items) != 0 {
		t.Errorf("catalogue of no products: %#v, %v; want an empty, non-nil list", items, err)
	}
	_, err = e.Catalog.Catalog(e.Ctx, "ghost")
	servicetest.WantCode(t, err, fault.UnknownCustomer)
}
