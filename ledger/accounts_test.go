package ledger_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// Accounts lists in code order, filtered by prefix, a page at a time after
// a cursor, each with its balance.
func TestAccountsListsByPrefixInPages(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	for _, c := range []string{"C3", "C1", "C2"} {
		mustPost(t, l, earn(c, "5"))
	}
	mustPost(t, l, earn("C2", "4"))

	page, err := l.Accounts(ctx, ledger.AccountFilter{Prefix: "customer:", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].Code != "customer:C1:points" || page[1].Code != "customer:C2:points" {
		t.Fatalf("first page %+v, want C1 and C2", page)
	}
	if !page[1].Balance.Equal(d("9")) || page[1].Asset != ledger.PTS || page[1].AllowNegative {
		t.Errorf("C2: %+v, want 9 PTS, not allowed negative", page[1])
	}
	page, err = l.Accounts(ctx, ledger.AccountFilter{Prefix: "customer:", After: page[1].Code, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].Code != "customer:C3:points" {
		t.Fatalf("second page %+v, want C3 alone", page)
	}
	all, err := l.Accounts(ctx, ledger.AccountFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 || all[0].Code != "customer:C1:points" || all[3].Code != "platform:points:earned:volume" ||
		!all[3].Balance.Equal(d("-19")) || !all[3].AllowNegative {
		t.Errorf("all accounts %+v, want three customers then the platform's volume account at -19", all)
	}
}
