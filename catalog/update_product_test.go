package catalog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// A patch changes the fields it names and leaves the others alone; a patch
// that would make the product invalid, or names no product, changes
// nothing; a second product with the same SKU is refused.
func TestUpdateProductChangesOnlyThePatchedFields(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Featured, PointsPrice: 75,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(5)})
	show := func(p catalog.Product) string {
		opt := func(v *int) any {
			if v == nil {
				return "-"
			}
			return *v
		}
		return fmt.Sprintf("%s %s %s %d level=%v %s..%s stock=%v limit=%v active=%t", p.SKU, p.Name, p.Kind,
			p.PointsPrice, opt(p.MinLevel), p.ValidFrom.In(shanghai).Format(time.DateOnly),
			p.ValidUntil.In(shanghai).Format(time.DateOnly), opt(p.Stock), opt(p.PerCustomerLimit), p.Active)
	}
	stored := func() string {
		t.Helper()
		products, err := e.Catalog.Products(e.Ctx)
		if err != nil || len(products) != 1 {
			t.Fatalf("products %+v, %v; want the mug alone", products, err)
		}
		return show(products[0])
	}
	for _, tc := range []struct {
		name  string
		patch catalog.ProductPatch
		want  string
	}{
		{"Nothing", catalog.ProductPatch{},
			"mug Mug featured 75 level=- 2026-03-01..2026-03-31 stock=5 limit=- active=true"},
		{"Name", catalog.ProductPatch{Name: ptr("Big mug")},
			"mug Big mug featured 75 level=- 2026-03-01..2026-03-31 stock=5 limit=- active=true"},
		{"Price", catalog.ProductPatch{PointsPrice: ptr(int64(90))},
			"mug Big mug featured 90 level=- 2026-03-01..2026-03-31 stock=5 limit=- active=true"},
		{"MinLevel", catalog.ProductPatch{MinLevel: ptr(9)},
			"mug Big mug featured 90 level=9 2026-03-01..2026-03-31 stock=5 limit=- active=true"},
		{"Window", catalog.ProductPatch{ValidFrom: ptr(march(2, 0)), ValidUntil: ptr(march(30, 0))},
			"mug Big mug featured 90 level=9 2026-03-02..2026-03-30 stock=5 limit=- active=true"},
		{"StockAndLimit", catalog.ProductPatch{Stock: ptr(7), PerCustomerLimit: ptr(2)},
			"mug Big mug featured 90 level=9 2026-03-02..2026-03-30 stock=7 limit=2 active=true"},
		{"Inactive", catalog.ProductPatch{Active: ptr(false)},
			"mug Big mug featured 90 level=9 2026-03-02..2026-03-30 stock=7 limit=2 active=false"},
		{"ClearLevelAndLimit", catalog.ProductPatch{Clear: []string{"min_level", "per_customer_limit"}},
			"mug Big mug featured 90 level=- 2026-03-02..2026-03-30 stock=7 limit=- active=false"},
		{"LevelAndLimitAgain", catalog.ProductPatch{MinLevel: ptr(9), PerCustomerLimit: ptr(2)},
			"mug Big mug featured 90 level=9 2026-03-02..2026-03-30 stock=7 limit=2 active=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.Catalog.UpdateProduct(e.Ctx, "mug", tc.patch)
			if err != nil {
				t.Fatal(err)
			}
			if show(got) != tc.want {
				t.Errorf("answered %q, want %q", show(got), tc.want)
			}
			if s := stored(); s != tc.want {
				t.Errorf("stored %q, want %q", s, tc.want)
			}
		})
	}
	const last = "mug Big mug featured 90 level=9 2026-03-02..2026-03-30 stock=7 limit=2 active=false"
	for _, bad := range []catalog.ProductPatch{
		{Stock: ptr(-1)},
		{Clear: []string{"stock"}},                                    // a featured product's stock is required
		{Clear: []string{"valid_until"}},                              // and its window
		{Clear: []string{"name"}},                                     // not an optional field
		{Stock: ptr(3), Clear: []string{"stock"}},                     // set and cleared
		{Name: ptr("Renamed"), Clear: []string{"min_level", "stock"}}, // nothing of a refused patch
	} {
		_, err := e.Catalog.UpdateProduct(e.Ctx, "mug", bad)
		servicetest.WantCode(t, err, fault.Invalid)
	}
	_, err := e.Catalog.UpdateProduct(e.Ctx, "mug", catalog.ProductPatch{Stock: ptr(-1)})
	servicetest.WantCode(t, err, fault.Invalid)
	_, err = e.Catalog.UpdateProduct(e.Ctx, "ghost", catalog.ProductPatch{Name: ptr("Ghost")})
	servicetest.WantCode(t, err, fault.UnknownProduct)
	_, err = e.Catalog.CreateProduct(e.Ctx, catalog.Product{SKU: "mug", Name: "Other mug", Kind: catalog.Standard, PointsPrice: 1})
	servicetest.WantCode(t, err, fault.ProductExists)
	if s := stored(); s != last {
		t.Errorf("after the refusals: %q, want %q", s, last)
	}
}
