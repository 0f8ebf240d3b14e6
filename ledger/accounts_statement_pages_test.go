package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// A statement of several accounts whose last page is exactly full says so
// (next 0), so a client never asks for an empty page.
func TestAccountsStatementLastPageExactlyFull(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		mustPost(t, l, earn("C1", fmt.Sprint(i)))
	}
	mustPost(t, l, earn("C2", "5"))
	codes := []string{"customer:C1:points", "customer:C1:prepaid"}
	page := func(before int64, limit int) ([]ledger.AccountsEntry, int64) {
		var entries []ledger.AccountsEntry
		var next int64
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			var err error
			entries, next, err = tx.AccountsStatement(ctx, codes, before, limit)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return entries, next
	}
	if entries, next := page(0, 3); len(entries) != 3 || next != 0 {
		t.Errorf("one page of 3 for C1's 3 entries: %d entries, next %d; want 3, next 0", len(entries), next)
	}
	first, next := page(0, 2)
	if len(first) != 2 || next != first[1].ID {
		t.Fatalf("first page of 2: %d entries, next %d; want 2, next the second's id", len(first), next)
	}
	if second, next := page(next, 1); len(second) != 1 || next != 0 || second[0].ID >= first[1].ID {
		t.Errorf("last page of 1: %+v, next %d; want C1's oldest entry and next 0", second, next)
	}
}

// The first page of accounts with no entries is empty and no error; a
// cursor that is an entry of other accounts is refused, as is one that
// is no entry at all, on a last page as on any.
func TestAccountsStatementCursors(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	c1 := mustPost(t, l, earn("C1", "3"))
	c2 := mustPost(t, l, earn("C2", "4"))
	page := func(codes []string, before int64) ([]ledger.AccountsEntry, int64, error) {
		var entries []ledger.AccountsEntry
		var next int64
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			var err error
			entries, next, err = tx.AccountsStatement(ctx, codes, before, 10)
			return err
		})
		return entries, next, err
	}
	if entries, next, err := page([]string{"customer:C7:points", "customer:C7:prepaid"}, 0); err != nil || len(entries) != 0 || next != 0 {
		t.Errorf("first page of a customer with no entries: %d entries, next %d, err %v; want none, 0, no error", len(entries), next, err)
	}
	c1codes := []string{"customer:C1:points"}
	if entries, _, err := page(c1codes, c1.ID); err != nil || len(entries) != 0 {
		t.Errorf("the page after C1's only entry: %d entries, err %v; want an empty last page", len(entries), err)
	}
	for _, before := range []int64{c2.ID, c2.ID + 1000} {
		_, _, err := page(c1codes, before)
		wantCode(t, err, fault.Invalid)
	}
}
