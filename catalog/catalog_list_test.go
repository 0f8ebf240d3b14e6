package catalog_test

import (
	"testing"

	"github.com/tally-ledger/tally/catalog"
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

// A product read alone is refused as unknown when no active product has its
// SKU, and for an unknown customer as such.
func TestAnItemOfNoProductOrNoCustomerIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 1})
	e.Product(catalog.Product{SKU: "old", Name: "Old", Kind: catalog.Standard, PointsPrice: 1})
	inactive := false
	if _, err := e.Catalog.UpdateProduct(e.Ctx, "old", catalog.ProductPatch{Active: &inactive}); err != nil {
		t.Fatal(err)
	}
	if it, err := e.Catalog.Item(e.Ctx, "C1", "pen"); err != nil || it.SKU != "pen" {
		t.Errorf("Item(pen) = %+v, %v", it, err)
	}
	for _, sku := range []string{"old", "ghost", ""} {
		_, err := e.Catalog.Item(e.Ctx, "C1", sku)
		servicetest.WantCode(t, err, fault.UnknownProduct)
	}
	_, err := e.Catalog.Item(e.Ctx, "ghost", "pen")
	servicetest.WantCode(t, err, fault.UnknownCustomer)
}
