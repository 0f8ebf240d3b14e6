package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// TestTheAccountsRememberedAreBoundedAndForgettingOneCostsNothing: a
// ledger that remembers at most 4 account codes a generation posts to 60
// customers' points, each alone and then in a group (PostMany), twice: it
// remembers at most 8 codes at any time, and the postings to accounts it
// forgot (opened again, ON CONFLICT, by the statement that opens accounts)
// land: every customer holds what was credited, and no account is opened
// twice.
func TestTheAccountsRememberedAreBoundedAndForgettingOneCostsNothing(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	ledger.RememberAtMost(l, 4)
	const customers = 60
	for round := range 2 {
		for c := range customers {
			mustPost(t, l, earn(fmt.Sprint("C", c), "1"))
			if n := ledger.KnownAccounts(l); n > 8 {
				t.Fatalf("round %d, customer %d: %d account codes remembered, want at most 8", round, c, n)
			}
		}
		var group []ledger.EntryInput
		for c := range customers {
			group = append(group, earn(fmt.Sprint("C", c), "2"))
		}
		if err := l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, group, nil, nil) }); err != nil {
			t.Fatalf("round %d: PostMany: %v", round, err)
		}
		if n := ledger.KnownAccounts(l); n > 8 {
			t.Fatalf("round %d, after the group: %d account codes remembered, want at most 8", round, n)
		}
	}
	for c := range customers {
		if got := balance(t, l, fmt.Sprintf("customer:C%d:points", c)); !got.Equal(d("6")) {
			t.Errorf("C%d holds %s points, want 6", c, got)
		}
	}
	var accounts int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE code LIKE 'customer:%'`).Scan(&accounts); err != nil {
		t.Fatal(err)
	}
	if accounts != customers {
		t.Errorf("%d customer accounts, want %d", accounts, customers)
	}
}
