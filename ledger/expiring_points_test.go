package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// ExpiringPoints sums what is left of each customer points account's lots
// by expiry instant, for the instants in (after, by]: pending lots count,
// spent lots and other instants do not. Pages follow (instant, account),
// so a page can end between two accounts of one instant.
func TestExpiringPointsSumsWhatIsLeftPerAccountAndInstantInPages(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	after, e1, by, e3 := now.AddDate(0, 0, 1), now.AddDate(0, 0, 10), now.AddDate(0, 0, 20), now.AddDate(0, 0, 30)
	mustPost(t, l, earnLot("A", "100", ledger.Lot{ExpiresAt: e1}))
	mustPost(t, l, earnLot("B", "30", ledger.Lot{ExpiresAt: e1}))
	mustPost(t, l, earnLot("C", "60", ledger.Lot{ExpiresAt: by}))
	mustPost(t, l, redeem("C", "60")) // C's lot is spent
	mustPost(t, l, earnLot("A", "20", ledger.Lot{ExpiresAt: e1}))
	mustPost(t, l, earnLot("A", "50", ledger.Lot{ExpiresAt: by}))
	mustPost(t, l, earnLot("A", "5", ledger.Lot{AvailableAt: now.AddDate(0, 0, 5), ExpiresAt: by})) // pending
	mustPost(t, l, earnLot("B", "40", ledger.Lot{ExpiresAt: e3}))                                   // after by
	mustPost(t, l, earnLot("B", "10", ledger.Lot{ExpiresAt: after}))                                // at after: not after it
	var a, b int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT id FROM accounts WHERE code = 'customer:A:points'), (SELECT id FROM accounts WHERE code = 'customer:B:points')`).Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if a >= b {
		t.Fatalf("A's account %d was created before B's %d", a, b)
	}
	want := []ledger.AccountExpiry{
		{AccountID: a, CustomerID: "A", ExpiresAt: e1, Points: 120},
		{AccountID: b, CustomerID: "B", ExpiresAt: e1, Points: 30},
		{AccountID: a, CustomerID: "A", ExpiresAt: by, Points: 55},
	}
	for _, limit := range []int{1, 2, 3, 4} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []ledger.AccountExpiry
			var from ledger.AccountExpiry
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("more than %d pages: %+v", len(want)+1, got)
				}
				var page []ledger.AccountExpiry
				err := l.ReadTx(ctx, func(tx *ledger.Tx) error {
					var err error
					page, err = tx.ExpiringPoints(ctx, after, by, from, limit)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit {
					t.Fatalf("page of %d with limit %d", len(page), limit)
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				from = page[len(page)-1]
			}
			if len(got) != len(want) {
				t.Fatalf("expiring %+v, want %+v", got, want)
			}
			for i := range want {
				if g := got[i]; g.AccountID != want[i].AccountID || g.CustomerID != want[i].CustomerID ||
					!g.ExpiresAt.Equal(want[i].ExpiresAt) || g.Points != want[i].Points {
					t.Errorf("expiring[%d] = %+v, want %+v", i, g, want[i])
				}
			}
		})
	}
}
