package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// The trial balance puts each account's balance on its side (a negative
// balance is a debit) and answers the totals per asset in asset order,
// CNY before PTS, each with debits equal to credits.
func TestTrialBalanceTotalsPerAssetInAssetOrder(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "100"))
	mustPost(t, l, ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d("-1000.00")}, {Account: "customer:C1:prepaid", Amount: d("1000.00")},
		{Account: "platform:rebate:expense", Amount: d("-20.00")}, {Account: "customer:C1:rebate", Amount: d("20.00")},
	}})
	mustPost(t, l, redeem("C1", "30"))

	// What the entries above move, written out by hand.
	want := map[string]string{
		"customer:C1:points":            "0 70",
		"customer:C1:prepaid":           "0 1000",
		"customer:C1:rebate":            "0 20",
		"platform:cash":                 "1000 0",
		"platform:points:earned:volume": "100 0",
		"platform:points:redeemed":      "0 30",
		"platform:rebate:expense":       "20 0",
	}
	got := map[string]string{}
	totals, err := l.TrialBalance(ctx, l.Now().AddDate(1, 0, 0), func(r ledger.TrialRow) error {
		got[r.Account] = fmt.Sprintf("%s %s", r.Debit, r.Credit)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for code, w := range want {
		if got[code] != w {
			t.Errorf("%s: debit credit %q, want %q", code, got[code], w)
		}
	}
	wantTotals := []string{"CNY 1020 1020 true", "PTS 100 100 true"}
	if len(totals) != len(wantTotals) {
		t.Fatalf("totals %+v, want %q", totals, wantTotals)
	}
	for i, tot := range totals {
		if g := fmt.Sprintf("%s %s %s %t", tot.Asset, tot.Debits, tot.Credits, tot.Balanced); g != wantTotals[i] {
			t.Errorf("totals[%d] = %q, want %q", i, g, wantTotals[i])
		}
	}
}
