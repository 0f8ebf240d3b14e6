package catalog_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/catalog"
)

// TestCustomerRedemptionsPagesOfOneAndALastPageExactlyFull: four
// redemptions read in pages of 1, 2 and 4 are the four, newest first, in
// 4 / limit pages: each page exactly full, each but the last with the
// cursor of its last redemption, the last with none.
func TestCustomerRedemptionsPagesOfOneAndALastPageExactlyFull(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "1000", march(10, 9))
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	for i := 1; i <= 4; i++ {
		e.redeemIn(t, "customer:C1", fmt.Sprintf("r%d", i), "C1", 1)
	}
	want := []string{"r4", "r3", "r2", "r1"}
	for _, limit := range []int{1, 2, 4} {
		var ids []string
		var cursor int64
		pages, wantPages := 0, len(want)/limit
		for pages < wantPages+1 { // a walk that does not end is cut at one page too many
			got, next, err := e.Catalog.CustomerRedemptions(e.Ctx, "C1", "customer:C1", cursor, limit)
			if err != nil {
				t.Fatalf("limit %d, before %d: %v", limit, cursor, err)
			}
			pages++
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if len(got) != limit {
				t.Errorf("limit %d, page %d: %d redemptions", limit, pages, len(got))
			}
			if next == 0 {
				break
			}
			if len(got) > 0 && next != got[len(got)-1].EntryID {
				t.Errorf("limit %d, page %d: cursor %d, want its last redemption's entry %d", limit, pages, next,
					got[len(got)-1].EntryID)
			}
			cursor = next
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) || pages != wantPages {
			t.Errorf("limit %d: %d pages of %v, want %d of %v", limit, pages, ids, wantPages, want)
		}
	}
}
