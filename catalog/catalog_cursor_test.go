package catalog_test

import (
	"encoding/base64"
	"fmt"
	"sort"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// inCatalogOrder is the products sorted as a catalogue lists them: by kind,
// points price and SKU.
func inCatalogOrder(ps []catalog.Product) []string {
	s := append([]catalog.Product(nil), ps...)
	sort.Slice(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.PointsPrice != b.PointsPrice {
			return a.PointsPrice < b.PointsPrice
		}
		return a.SKU < b.SKU
	})
	return skusOf(s)
}

func skusOf(ps []catalog.Product) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.SKU)
	}
	return out
}

func itemSKUs(items []catalog.CatalogItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.SKU)
	}
	return out
}

// TestCatalogAndProductsListEveryProductOfMoreThanAPage: with MaxPage + 1
// products, the whole catalogue (Catalog, by kind, price and SKU) and the
// product list (Products, by SKU) hold every one of them once, in order:
// neither stops after its first page. (This test is the first of the
// package to list a catalogue: a mutant that turns the walk of pages into
// an endless loop fails here before any other test hangs.)
func TestCatalogAndProductsListEveryProductOfMoreThanAPage(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	var written []catalog.Product
	for i := 0; i <= catalog.MaxPage; i++ {
		// Prices repeat (1 to 13) so that the catalogue's order differs
		// from the SKUs' and ties on price are broken by SKU.
		p := catalog.Product{SKU: fmt.Sprintf("p%04d", i), Name: "Product", Kind: catalog.Standard,
			PointsPrice: int64(1 + (i*7)%13)}
		e.Product(p)
		written = append(written, p)
	}
	items, err := e.Catalog.Catalog(e.Ctx, "C1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := itemSKUs(items), inCatalogOrder(written); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("catalogue of %d products: %d listed, first %v, last %v; want %d, first %v, last %v", len(written),
			len(got), got[:min(3, len(got))], got[max(0, len(got)-3):], len(want), want[:3], want[len(want)-3:])
	}
	products, err := e.Catalog.Products(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := skusOf(products), skusOf(written); fmt.Sprint(got) != fmt.Sprint(want) { // written in SKU order
		t.Errorf("products: %d listed, first %v, last %v; want %d, first %v, last %v",
			len(got), got[:min(3, len(got))], got[max(0, len(got)-3):], len(want), want[:3], want[len(want)-3:])
	}
}

// threeKinds writes two products of each kind, prices chosen so that no
// kind's products are in SKU order, and answers them.
func threeKinds(e *env) []catalog.Product {
	ps := []catalog.Product{
		{SKU: "s-b", Name: "Standard B", Kind: catalog.Standard, PointsPrice: 10},
		{SKU: "s-a", Name: "Standard A", Kind: catalog.Standard, PointsPrice: 20},
		{SKU: "l-b", Name: "Level B", Kind: catalog.Level, PointsPrice: 5, MinLevel: ptr(1)},
		{SKU: "l-a", Name: "Level A", Kind: catalog.Level, PointsPrice: 5, MinLevel: ptr(9)},
		{SKU: "f-b", Name: "Featured B", Kind: catalog.Featured, PointsPrice: 30,
			ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(3)},
		{SKU: "f-a", Name: "Featured A", Kind: catalog.Featured, PointsPrice: 40,
			ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(3)},
	}
	for _, p := range ps {
		e.Product(p)
	}
	return ps
}

// walkCatalog reads the customer's catalogue page by page of limit
// products, at most maxPages pages: each page but the last holds exactly
// limit products and answers the cursor of its last product; the last
// holds 1 to limit and no cursor. It answers the SKUs read and the number
// of pages.
func walkCatalog(t *testing.T, e *env, customer string, limit, maxPages int) ([]string, int) {
	t.Helper()
	var skus []string
	after := ""
	for pages := 1; pages <= maxPages; pages++ {
		page, next, err := e.Catalog.CatalogPage(e.Ctx, customer, after, limit)
		if err != nil {
			t.Fatalf("page %d (limit %d, after %q): %v", pages, limit, after, err)
		}
		skus = append(skus, itemSKUs(page)...)
		if next == "" {
			if len(page) < 1 || len(page) > limit {
				t.Errorf("last page %d (limit %d): %d products", pages, limit, len(page))
			}
			return skus, pages
		}
		if len(page) != limit {
			t.Fatalf("page %d (limit %d): %d products and a cursor", pages, limit, len(page))
		}
		if want := catalog.CatalogCursorAfter(page[limit-1].Product); next != want {
			t.Errorf("page %d: cursor %q, want that of its last product %s, %q", pages, next, page[limit-1].SKU, want)
		}
		after = next
	}
	t.Fatalf("limit %d: still a cursor after %d pages, read %v", limit, maxPages, skus)
	return nil, 0
}

// TestCatalogPagesEndExactlyAtTheLastProduct: a catalogue of six products
// of the three kinds read in pages of 1, 2, 3, 4, 6 and MaxPage is the same
// six in the same order, in ceil(6 / limit) pages; a last page holding
// exactly limit products has no cursor, and every cursor (of each kind)
// leads to the product after it.
func TestCatalogPagesEndExactlyAtTheLastProduct(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	want := inCatalogOrder(threeKinds(e))
	for _, limit := range []int{1, 2, 3, 4, 6, catalog.MaxPage} {
		wantPages := (len(want) + limit - 1) / limit
		got, pages := walkCatalog(t, e, "C1", limit, wantPages+1)
		if fmt.Sprint(got) != fmt.Sprint(want) || pages != wantPages {
			t.Errorf("limit %d: %d pages of %v, want %d of %v", limit, pages, got, wantPages, want)
		}
	}
}

// TestCatalogPageLimits: a page is 1 to MaxPage products; 0 and MaxPage + 1
// are refused.
func TestCatalogPageLimits(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	threeKinds(e)
	for _, limit := range []int{1, catalog.MaxPage} {
		page, _, err := e.Catalog.CatalogPage(e.Ctx, "C1", "", limit)
		if err != nil || len(page) != min(limit, 6) {
			t.Errorf("limit %d: %d products, %v; want %d", limit, len(page), err, min(limit, 6))
		}
	}
	for _, limit := range []int{0, -1, catalog.MaxPage + 1} {
		_, _, err := e.Catalog.CatalogPage(e.Ctx, "C1", "", limit)
		servicetest.WantCode(t, err, fault.Invalid)
	}
}

// cursor is a catalogue cursor written by hand: base64url (unpadded) of
// kind.price.sku, as CatalogPage documents it.
func cursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestCatalogPageRefusesMalformedCursors: a cursor that is not the base64url
// of a known kind, a price in canonical decimal from 0 and a valid SKU,
// separated by dots, is refused as invalid; a cursor of any kind, at price 0,
// is a place in the order like any other.
func TestCatalogPageRefusesMalformedCursors(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	want := inCatalogOrder(threeKinds(e))
	for _, c := range []string{
		"standard.10.s-b",                           // not base64
		cursor("standard.10.s-b") + "==",            // padded
		cursor("standard"),                          // no price, no SKU
		cursor("standard.10"),                       // no SKU
		cursor("standard.ten.s-b"),                  // a price not a number
		cursor("standard..s-b"),                     // an empty price
		cursor("standard.-1.s-b"),                   // a negative price
		cursor("standard.010.s-b"),                  // not canonical
		cursor("standard.+10.s-b"),                  // not canonical
		cursor("standard.99999999999999999999.s-b"), // out of range
		cursor("standard.10."),                      // an empty SKU
		cursor("standard.10.s b"),                   // a SKU with a space
		cursor("gift.10.s-b"),                       // an unknown kind
		cursor("Standard.10.s-b"),                   // kinds are lower case
		cursor(".10.s-b"),                           // no kind
	} {
		page, next, err := e.Catalog.CatalogPage(e.Ctx, "C1", c, 10)
		if fault.CodeOf(err) != fault.Invalid {
			t.Errorf("cursor %q: %d products, next %q, %v; want %s", c, len(page), next, err, fault.Invalid)
		}
	}
	// Cursors of each kind, at price 0, before every product of that kind:
	// the page starts with the kind's first product.
	for i, c := range []struct{ kind, first string }{
		{catalog.Featured, "f-b"}, {catalog.Level, "l-a"}, {catalog.Standard, "s-b"},
	} {
		page, _, err := e.Catalog.CatalogPage(e.Ctx, "C1", cursor(c.kind+".0.a"), 10)
		if err != nil {
			t.Errorf("cursor %s.0.a: %v", c.kind, err)
			continue
		}
		if got := itemSKUs(page); fmt.Sprint(got) != fmt.Sprint(want[2*i:]) || got[0] != c.first {
			t.Errorf("after %s.0.a: %v, want %v", c.kind, got, want[2*i:])
		}
	}
}
