package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
)

// The page that confirms a redemption reads the one product it confirms: it
// sends as many statements with a catalogue of 603 products as with one of
// 3, for a product that exists and for one that does not. (It read the whole
// catalogue, a statement per product, so that any customer's session could
// make each request cost the whole catalogue.)
func TestARedemptionsConfirmationReadsOneProduct(t *testing.T) {
	pool, counter := testdb.CountedPool(t)
	s := newSiteOnEnv(t, servicetest.NewWith(t, servicetest.Config{Pool: pool}), httptest.NewUnstartedServer, false, nil)
	s.Customer("C1")
	add := func(from, to int) {
		for i := from; i < to; i++ {
			s.Product(catalog.Product{SKU: fmt.Sprintf("P%04d", i), Name: "Product", Kind: catalog.Standard,
				PointsPrice: int64(10 + i), Active: true})
		}
	}
	add(0, 3)
	c, _ := s.signedIn(t, "C1")
	// The cheaper of two asks: the first of a path may prepare statements.
	cost := func(path string, status int) int {
		least := -1
		for range 2 {
			_, n := counter.Measure(func() {
				if p := get(t, c, s.srv.URL+path); p.status != status {
					t.Fatalf("GET %s: %d, want %d", path, p.status, status)
				}
			})
			if least < 0 || n < least {
				least = n
			}
		}
		return least
	}
	small, smallUnknown := cost("/portal/redeem/P0001", http.StatusOK), cost("/portal/redeem/NO-SUCH", http.StatusUnprocessableEntity)
	add(3, 603)
	large, largeUnknown := cost("/portal/redeem/P0001", http.StatusOK), cost("/portal/redeem/NO-SUCH", http.StatusUnprocessableEntity)
	if large != small || largeUnknown != smallUnknown {
		t.Errorf("statements to confirm a product: %d with 3 products, %d with 603; an unknown one: %d, then %d",
			small, large, smallUnknown, largeUnknown)
	}
	if p := get(t, c, s.srv.URL+"/portal/redeem/P0600"); p.status != http.StatusOK {
		t.Errorf("a product past the catalogue's first page: %d", p.status)
	}
}
