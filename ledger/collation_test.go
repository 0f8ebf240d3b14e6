package ledger_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// Accounts are opened in the order of their codes' bytes, the order Go
// sorts them in and balance rows are locked in, whatever the database's
// collation: by PostMany, and by LockBalances for accounts not opened yet.
// Under an ICU collation "customer:a1" sorts before "customer:B1", in bytes
// after; had the openings followed the collation while the locks follow
// the bytes, two writers could wait for each other in a cycle. The order of
// the accounts' ids is the order they were inserted in.
func TestAccountsOpenInByteOrderWhateverTheCollation(t *testing.T) {
	pool := testdb.PoolCollated(t, "en-US")
	ctx := context.Background()
	var icuFirst string
	if err := pool.QueryRow(ctx, `SELECT min(c) FROM unnest(array['customer:B1', 'customer:a1']) c`).Scan(&icuFirst); err != nil {
		t.Fatal(err)
	}
	if icuFirst != "customer:a1" {
		t.Fatalf("the database sorts %q first, want customer:a1: the test needs a collation that is not the bytes'", icuFirst)
	}
	l := ledger.New(pool)

	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		return tx.PostMany(ctx, []ledger.EntryInput{earn("a1", "10"), earn("B1", "10"), earn("c1", "10"), earn("A1", "10")}, nil, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.InTx(ctx, func(tx *ledger.Tx) error {
		_, err := tx.LockBalances(ctx, "customer:b2:prepaid", "customer:a2:prepaid", "customer:B2:prepaid")
		return err
	}); err != nil {
		t.Fatal(err)
	}

	for _, prefix := range []string{"customer:%1:points", "customer:%2:prepaid"} {
		var codes []string
		if err := pool.QueryRow(ctx, `SELECT array_agg(code ORDER BY id) FROM accounts WHERE code LIKE $1`, prefix).Scan(&codes); err != nil {
			t.Fatal(err)
		}
		if len(codes) < 3 {
			t.Fatalf("accounts %s opened: %v, want at least 3", prefix, codes)
		}
		if !slices.IsSorted(codes) {
			t.Errorf("accounts %s were opened in the order %v, not their bytes' %v", prefix, codes, slices.Sorted(slices.Values(codes)))
		}
	}
}
