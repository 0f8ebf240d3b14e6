package loyalty_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// An entry of a kind the statement has no words of its own for (money, a
// manual entry) is described by its kind and what it moved on the
// customer's accounts: points only when it moved points, and the reason
// when it has one.
func TestStatementDescribesOtherEntriesByWhatTheyMoved(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "2000") // 2%: 40.00 of rebate
	if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "test", Reason: "goodwill",
		Postings: []ledger.PostingInput{
			{Account: "platform:points:earned:adjustment", Amount: d("-5")},
			{Account: "customer:C1:points", Amount: d("5"), Lot: &ledger.Lot{ExpiresAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}},
		}}); err != nil {
		t.Fatal(err)
	}
	entries, _, err := e.Loyalty.Statement(e.Ctx, "C1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, en := range entries {
		got[en.Kind] = en.Description
	}
	dep := got[prepaid.Deposit]
	if !strings.Contains(dep, "2000.00") || !strings.Contains(dep, "prepaid") || !strings.Contains(dep, "40.00") ||
		!strings.Contains(dep, "rebate") || strings.Contains(dep, "points") || strings.Contains(dep, "(") {
		t.Errorf("deposit described %q: want its 2000.00 of prepaid and 40.00 of rebate, no points, no reason", dep)
	}
	if man := got["manual"]; !strings.Contains(man, "+5 points") || !strings.Contains(man, "(goodwill)") {
		t.Errorf("manual entry described %q: want its +5 points and its reason", man)
	}
}
