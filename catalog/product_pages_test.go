package catalog_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestProductPagesEndExactlyAtTheLastProduct: six products read in pages
// of 1, 2, 3, 4, 6 and MaxPage are the six in SKU order, in ceil(6 / limit)
// pages; each page but the last holds exactly limit products and answers
// its last SKU, the last (even when exactly full) answers none.
func TestProductPagesEndExactlyAtTheLastProduct(t *testing.T) {
	e := newEnv(t)
	want := []string{"f-a", "f-b", "l-a", "l-b", "s-a", "s-b"} // threeKinds' SKUs, sorted by hand
	threeKinds(e)
	for _, limit := range []int{1, 2, 3, 4, 6, catalog.MaxPage} {
		wantPages := (len(want) + limit - 1) / limit
		var got []string
		after, pages := "", 0
		for pages < wantPages+1 { // a walk that does not end is cut at one page too many
			page, next, err := e.Catalog.ProductPage(e.Ctx, after, limit)
			if err != nil {
				t.Fatalf("limit %d, after %q: %v", limit, after, err)
			}
			pages++
			got = append(got, skusOf(page)...)
			if next == "" {
				break
			}
			if len(page) != limit || next != page[len(page)-1].SKU {
				t.Errorf("limit %d, page %d: %d products, next %q; want %d and the last SKU", limit, pages, len(page),
					next, limit)
			}
			after = next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || pages != wantPages {
			t.Errorf("limit %d: %d pages of %v, want %d of %v", limit, pages, got, wantPages, want)
		}
	}
}

// TestProductPageLimitsAndCursor: a page is 1 to MaxPage products, after a
// SKU (one that is not in the catalogue is a place in the order too); 0,
// MaxPage + 1 and a cursor that is not a SKU are refused.
func TestProductPageLimitsAndCursor(t *testing.T) {
	e := newEnv(t)
	threeKinds(e)
	for _, limit := range []int{1, catalog.MaxPage} {
		page, _, err := e.Catalog.ProductPage(e.Ctx, "", limit)
		if err != nil || len(page) != min(limit, 6) {
			t.Errorf("limit %d: %d products, %v; want %d", limit, len(page), err, min(limit, 6))
		}
	}
	page, next, err := e.Catalog.ProductPage(e.Ctx, "l-c", 10) // between l-b and s-a
	if err != nil || fmt.Sprint(skusOf(page)) != "[s-a s-b]" || next != "" {
		t.Errorf("after l-c: %v, next %q, %v; want [s-a s-b]", skusOf(page), next, err)
	}
	for _, limit := range []int{0, -1, catalog.MaxPage + 1} {
		_, _, err := e.Catalog.ProductPage(e.Ctx, "", limit)
		servicetest.WantCode(t, err, fault.Invalid)
	}
	for _, after := range []string{"s a", strings.Repeat("s", 65), "s/a"} {
		_, _, err := e.Catalog.ProductPage(e.Ctx, after, 10)
		servicetest.WantCode(t, err, fault.Invalid)
	}
}
