package catalog_test

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// Each limit of eligibility (docs/RULES.md) holds at exactly its value and
// refuses one step past it: a customer at exactly min_level, a redemption
// of exactly the stock left, up to exactly the per-customer limit, of
// exactly the points available, of the largest quantity.
func TestEligibilityAtEachLimitAndOneStepPast(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	// 300 CNY in March: regular, level 4 (4 + floor(0 * 5 / 1700)); 300 points.
	e.Ship("C1", "S1", "300", march(10, 9))
	featured := func(sku string, stock int, limit *int) catalog.Product {
		return catalog.Product{SKU: sku, Name: sku, Kind: catalog.Featured, PointsPrice: 10,
			ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(stock), PerCustomerLimit: limit}
	}
	for _, p := range []catalog.Product{
		{SKU: "lamp4", Name: "Lamp 4", Kind: catalog.Level, PointsPrice: 10, MinLevel: ptr(4)},
		{SKU: "lamp5", Name: "Lamp 5", Kind: catalog.Level, PointsPrice: 10, MinLevel: ptr(5)},
		{SKU: "all", Name: "All the points", Kind: catalog.Standard, PointsPrice: 300},
		{SKU: "more", Name: "One point more", Kind: catalog.Standard, PointsPrice: 301},
		{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 1},
		featured("last", 1, nil),
		featured("two", 2, nil),
		featured("lim2", 10, ptr(2)),
	} {
		e.Product(p)
	}

	items, err := e.Catalog.Catalog(e.Ctx, "C1")
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, it := range items {
		reasons[it.SKU] = "ok"
		if it.Reason != nil {
			reasons[it.SKU] = string(*it.Reason)
		}
	}
	want := map[string]string{"lamp4": "ok", "lamp5": "not_eligible", "all": "ok", "more": "insufficient_points",
		"pen": "ok", "last": "ok", "two": "ok", "lim2": "ok"}
	if !maps.Equal(reasons, want) {
		t.Errorf("catalogue for C1 (level 4, 300 points): %v, want %v", reasons, want)
	}
	// One product read alone is the catalogue's item, reason and all.
	for _, it := range items {
		if one, err := e.Catalog.Item(e.Ctx, "C1", it.SKU); err != nil || !reflect.DeepEqual(one, it) {
			t.Errorf("Item(%s) = %+v, %v; the catalogue has %+v", it.SKU, one, err, it)
		}
	}

	for _, tc := range []struct {
		name string
		sku  string
		q    int
		code fault.Code // empty: redeemed
	}{
		{"AtMinLevel", "lamp4", 1, ""},
		{"BelowMinLevel", "lamp5", 1, fault.NotEligible},
		{"MoreThanTheStock", "two", 3, fault.OutOfStock},
		{"ExactlyTheStock", "two", 2, ""},
		{"UpToTheLimit", "lim2", 1, ""},
		{"ExactlyTheLimit", "lim2", 1, ""},
		{"PastTheLimit", "lim2", 1, fault.LimitReached},
		{"LargestQuantity", "pen", 1000, fault.InsufficientPoints}, // valid, but 1000 points are more than C1 has
		{"QuantityPastTheLargest", "pen", 1001, fault.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Redeem("C1", tc.sku, tc.q)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			servicetest.WantCode(t, err, tc.code)
			var fe *fault.Error
			if tc.code == fault.Invalid && (!errors.As(err, &fe) || !slices.Equal(slices.Sorted(maps.Keys(fe.Fields)), []string{"quantity"})) {
				t.Errorf("refusal %v, want one naming the quantity alone", err)
			}
		})
	}
	if s := e.stock(t, "two"); s != 0 {
		t.Errorf("stock of two %d, want 0", s)
	}
	// 300 - 10 (lamp4) - 20 (two) - 20 (lim2) = 250 points left: exactly
	// those can be spent, leaving nothing.
	e.Product(catalog.Product{SKU: "rest", Name: "The rest", Kind: catalog.Standard, PointsPrice: 250})
	if _, err := e.Redeem("C1", "rest", 1); err != nil {
		t.Fatalf("redeeming exactly the 250 points left: %v", err)
	}
	if p := e.Points("C1"); p.Available != 0 || p.Balance != 0 {
		t.Errorf("points after spending them all: %+v, want none", p)
	}
	_, err = e.Redeem("C1", "pen", 1)
	servicetest.WantCode(t, err, fault.InsufficientPoints)
}
