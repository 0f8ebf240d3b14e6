package web_test

import (
	"fmt"
	"html"
	"net/http"
	"regexp"
	"testing"

	"github.com/tally-ledger/tally/catalog"
)

var (
	productCard = regexp.MustCompile(`id="product-([A-Za-z0-9_.-]+)"`)
	moreLink    = regexp.MustCompile(`href="(/portal/catalog\?after=[^"]+)"[^>]*id="catalog-more"`)
)

// TestPortalCatalogueShowsAPageAndAMoreLinkToTheRest: with more products
// than a page shows, the catalogue shows the first page with a link to the
// next, and following the links shows every product once, the last page
// without a link; a cursor the server did not make is refused.
func TestPortalCatalogueShowsAPageAndAMoreLinkToTheRest(t *testing.T) {
	s := newSite(t)
	s.Customer("C1")
	const n = 60
	for i := range n {
		s.Product(catalog.Product{SKU: fmt.Sprintf("P%02d", i), Name: "Product", Kind: catalog.Standard,
			PointsPrice: int64(100 + i), Active: true})
	}
	c := s.client(t)
	if p := s.enter(t, c, s.portalLink(t, "C1")); p.status != http.StatusSeeOther {
		t.Fatalf("opening the link: %d", p.status)
	}
	seen := map[string]int{}
	path, pages := "/portal/catalog", 0
	for path != "" {
		p := get(t, c, s.srv.URL+path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", path, p.status)
		}
		pages++
		for _, m := range productCard.FindAllStringSubmatch(p.body, -1) {
			seen[m[1]]++
		}
		path = ""
		if m := moreLink.FindStringSubmatch(p.body); m != nil {
			path = html.UnescapeString(m[1])
		}
		if pages > n {
			t.Fatalf("%d pages for %d products", pages, n)
		}
	}
	if pages != 2 || len(seen) != n {
		t.Errorf("%d products on %d pages, want %d on 2", len(seen), pages, n)
	}
	for sku, k := range seen {
		if k != 1 {
			t.Errorf("%s shown %d times", sku, k)
		}
	}
	if p := get(t, c, s.srv.URL+"/portal/catalog?after=not-a-cursor"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("a made-up cursor: %d, want 422", p.status)
	}
}
