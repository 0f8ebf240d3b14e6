package catalog_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
)

// TestTogetherSpendsOnlyLotsAvailableAndUnexpiredAtNow: a group made
// together counts as spendable exactly the lots a redemption alone draws
// on: a lot that becomes available at the transaction's instant is
// spendable, one that expires at it is not, nor one that becomes available
// a microsecond later (pending). The same group, made together and
// redemption by redemption, gives the answers the rules give (worked out
// below from the lots, not from either path) and the same books, lot draws
// included; the group made together does not fall back.
func TestTogetherSpendsOnlyLotsAvailableAndUnexpiredAtNow(t *testing.T) {
	together, each := newEnv(t), newEnv(t)
	now := march(15, 12) // where both clocks stand when the group is made
	for _, e := range []*env{together, each} {
		e.Clock.Set(march(1, 0))
		e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10})
		grant := func(customer string, points int64, availableAt, expiresAt time.Time) {
			t.Helper()
			if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "ops", Reason: "test lots",
				Postings: []ledger.PostingInput{
					{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-points)},
					{Account: ledger.CustomerAccount(customer, "points"), Amount: decimal.NewFromInt(points),
						Lot: &ledger.Lot{AvailableAt: availableAt, ExpiresAt: expiresAt}},
				}}); err != nil {
				t.Fatal(err)
			}
		}
		far := march(31, 0)
		for _, c := range []string{"C1", "C2", "C3"} {
			e.Customer(c)
		}
		grant("C1", 20, march(1, 0), now)                       // expires at now: not spendable
		grant("C1", 30, now, far)                               // available at now: spendable
		grant("C1", 50, now.Add(time.Microsecond), far)         // pending a microsecond more
		grant("C2", 40, march(1, 0), now.Add(time.Microsecond)) // the soonest to expire: drawn first
		grant("C2", 25, now.Add(-time.Microsecond), far)
		grant("C3", 100, now.Add(time.Microsecond), far) // all pending
		e.Clock.Set(now)
	}
	ins := []catalog.RedemptionInput{
		{ID: "a", CustomerID: "C1", SKU: "pen", Quantity: 3}, // 30 of C1's 30
		{ID: "b", CustomerID: "C1", SKU: "pen", Quantity: 1}, // none left
		{ID: "c", CustomerID: "C2", SKU: "pen", Quantity: 4}, // 40 of 65, all from the lot expiring first
		{ID: "d", CustomerID: "C2", SKU: "pen", Quantity: 2}, // 20 of the 25 left
		{ID: "e", CustomerID: "C2", SKU: "pen", Quantity: 1}, // 5 left
		{ID: "f", CustomerID: "C3", SKU: "pen", Quantity: 1}, // nothing available
	}
	want := []fault.Code{"", fault.InsufficientPoints, "", "", fault.InsufficientPoints, fault.InsufficientPoints}
	a := together.answers(together.Catalog.RedeemGroup(together.Ctx, ins, "test", false))
	b := each.answers(each.Catalog.RedeemGroup(each.Ctx, ins, "test", true))
	for i := range ins {
		got := ""
		if strings.HasPrefix(a[i], "refused ") {
			got = strings.Fields(a[i])[1]
			got = strings.TrimSuffix(got, ":")
		}
		if got != string(want[i]) {
			t.Errorf("together, %s: %s, want %q", ins[i].ID, a[i], want[i])
		}
		if a[i] != b[i] {
			t.Errorf("%s: together\n  %s\neach\n  %s", ins[i].ID, a[i], b[i])
		}
	}
	if n := together.Catalog.Stats().Fallbacks.Load(); n != 0 {
		t.Errorf("%d groups fell back, want none", n)
	}
	if diff := servicetest.DiffLines(together.redemptionBooks(t), each.redemptionBooks(t)); diff != "" {
		t.Errorf("the books differ (+ together, - each):\n%s", diff)
	}
	// What is left, lot by lot: C1 spent the lot available at now and
	// nothing else; C2 spent the lot expiring first, then 20 of the other.
	var lots []string
	rows, err := together.Pool.Query(together.Ctx, `SELECT a.code, l.amount, l.remaining FROM points_lots l
JOIN accounts a ON a.id = l.account_id ORDER BY a.code, l.id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			code              string
			amount, remaining int64
		)
		if err := rows.Scan(&code, &amount, &remaining); err != nil {
			t.Fatal(err)
		}
		lots = append(lots, fmt.Sprintf("%s %d %d", code, amount, remaining))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	wantLots := []string{"customer:C1:points 20 20", "customer:C1:points 30 0", "customer:C1:points 50 50",
		"customer:C2:points 40 0", "customer:C2:points 25 5", "customer:C3:points 100 100"}
	if !slices.Equal(lots, wantLots) {
		t.Errorf("lots after the group:\n  %s\nwant\n  %s", strings.Join(lots, "\n  "), strings.Join(wantLots, "\n  "))
	}
}
