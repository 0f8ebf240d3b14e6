package catalog_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
)

// Each limit of a product that openapi.yaml's ProductRequest documents, at
// its allowed value and one step past it, on its own field: the allowed
// product is created, the other refused as invalid naming exactly that
// field.
func TestCreateProductAcceptsEachLimitAndRefusesOneStepPast(t *testing.T) {
	e := newEnv(t)
	standard := func(p catalog.Product) catalog.Product {
		p.Kind, p.Name, p.PointsPrice = catalog.Standard, "Pen", 100
		return p
	}
	level := func(p catalog.Product) catalog.Product {
		p.Kind, p.Name, p.PointsPrice = catalog.Level, "Lamp", 100
		return p
	}
	featured := func(p catalog.Product) catalog.Product {
		p.Kind, p.Name, p.PointsPrice = catalog.Featured, "Mug", 100
		p.ValidFrom, p.ValidUntil, p.Stock = ptr(march(1, 0)), ptr(march(31, 0)), ptr(5)
		return p
	}
	const billion = 1_000_000_000
	for _, tc := range []struct {
		name string
		p    catalog.Product
		bad  []string // the fields named in the refusal; none: created
	}{
		{"Name200Bytes", with(standard(catalog.Product{}), func(p *catalog.Product) { p.Name = strings.Repeat("n", 200) }), nil},
		{"Name201Bytes", with(standard(catalog.Product{}), func(p *catalog.Product) { p.Name = strings.Repeat("n", 201) }), []string{"name"}},
		{"NameOnlySpaces", with(standard(catalog.Product{}), func(p *catalog.Product) { p.Name = "   " }), []string{"name"}},
		{"Price1", with(standard(catalog.Product{}), func(p *catalog.Product) { p.PointsPrice = 1 }), nil},
		{"Price0", with(standard(catalog.Product{}), func(p *catalog.Product) { p.PointsPrice = 0 }), []string{"points_price"}},
		{"PriceBillion", with(standard(catalog.Product{}), func(p *catalog.Product) { p.PointsPrice = billion }), nil},
		{"PriceBillionAndOne", with(standard(catalog.Product{}), func(p *catalog.Product) { p.PointsPrice = billion + 1 }), []string{"points_price"}},
		{"MinLevel1", with(level(catalog.Product{}), func(p *catalog.Product) { p.MinLevel = ptr(1) }), nil},
		{"MinLevel0", with(level(catalog.Product{}), func(p *catalog.Product) { p.MinLevel = ptr(0) }), []string{"min_level"}},
		{"MinLevel1000", with(level(catalog.Product{}), func(p *catalog.Product) { p.MinLevel = ptr(1000) }), nil},
		{"MinLevel1001", with(level(catalog.Product{}), func(p *catalog.Product) { p.MinLevel = ptr(1001) }), []string{"min_level"}},
		{"LevelWithoutMinLevel", level(catalog.Product{}), []string{"min_level"}},
		{"LevelWithStock", with(level(catalog.Product{}), func(p *catalog.Product) { p.MinLevel, p.Stock = ptr(3), ptr(1) }), []string{"kind"}},
		{"StandardWithMinLevel", with(standard(catalog.Product{}), func(p *catalog.Product) { p.MinLevel = ptr(3) }), []string{"kind"}},
		{"StandardWithValidFrom", with(standard(catalog.Product{}), func(p *catalog.Product) { p.ValidFrom = ptr(march(1, 0)) }), []string{"kind"}},
		{"StandardWithValidUntil", with(standard(catalog.Product{}), func(p *catalog.Product) { p.ValidUntil = ptr(march(1, 0)) }), []string{"kind"}},
		{"StandardWithStock", with(standard(catalog.Product{}), func(p *catalog.Product) { p.Stock = ptr(1) }), []string{"kind"}},
		{"StandardWithLimit", with(standard(catalog.Product{}), func(p *catalog.Product) { p.PerCustomerLimit = ptr(1) }), []string{"kind"}},
		{"FeaturedWithMinLevel", with(featured(catalog.Product{}), func(p *catalog.Product) { p.MinLevel = ptr(9) }), nil},
		{"FeaturedWithoutValidFrom", with(featured(catalog.Product{}), func(p *catalog.Product) { p.ValidFrom = nil }), []string{"valid_until"}},
		{"FeaturedWithoutValidUntil", with(featured(catalog.Product{}), func(p *catalog.Product) { p.ValidUntil = nil }), []string{"valid_until"}},
		{"FeaturedEmptyWindow", with(featured(catalog.Product{}), func(p *catalog.Product) { p.ValidUntil = p.ValidFrom }), []string{"valid_until"}},
		{"FeaturedWithoutStock", with(featured(catalog.Product{}), func(p *catalog.Product) { p.Stock = nil }), []string{"stock"}},
		{"Stock0", with(featured(catalog.Product{}), func(p *catalog.Product) { p.Stock = ptr(0) }), nil},
		{"StockMinus1", with(featured(catalog.Product{}), func(p *catalog.Product) { p.Stock = ptr(-1) }), []string{"stock"}},
		{"StockBillion", with(featured(catalog.Product{}), func(p *catalog.Product) { p.Stock = ptr(billion) }), nil},
		{"StockBillionAndOne", with(featured(catalog.Product{}), func(p *catalog.Product) { p.Stock = ptr(billion + 1) }), []string{"stock"}},
		{"Limit1", with(featured(catalog.Product{}), func(p *catalog.Product) { p.PerCustomerLimit = ptr(1) }), nil},
		{"Limit0", with(featured(catalog.Product{}), func(p *catalog.Product) { p.PerCustomerLimit = ptr(0) }), []string{"per_customer_limit"}},
		{"LimitBillion", with(featured(catalog.Product{}), func(p *catalog.Product) { p.PerCustomerLimit = ptr(billion) }), nil},
		{"LimitBillionAndOne", with(featured(catalog.Product{}), func(p *catalog.Product) { p.PerCustomerLimit = ptr(billion + 1) }), []string{"per_customer_limit"}},
		{"UnknownKind", with(standard(catalog.Product{}), func(p *catalog.Product) { p.Kind = "bundle" }), []string{"kind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.SKU = strings.ToLower(tc.name)
			got, err := e.Catalog.CreateProduct(e.Ctx, tc.p)
			if tc.bad == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.SKU != tc.p.SKU || !got.Active || got.Name != strings.TrimSpace(tc.p.Name) {
					t.Errorf("created %+v, want the active product %s", got, tc.p.SKU)
				}
				return
			}
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Code != fault.Invalid {
				t.Fatalf("error %v, want %s", err, fault.Invalid)
			}
			if fields := slices.Sorted(maps.Keys(fe.Fields)); !slices.Equal(fields, tc.bad) {
				t.Errorf("refused naming %v, want %v", fields, tc.bad)
			}
		})
	}
	var n int
	e.Scan(t, `SELECT count(*) FROM products`, &n)
	if want := 10; n != want {
		t.Errorf("%d products, want the %d allowed ones", n, want)
	}
}

func with(p catalog.Product, f func(*catalog.Product)) catalog.Product {
	f(&p)
	return p
}
