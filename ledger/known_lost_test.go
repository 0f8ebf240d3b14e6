package ledger_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// A group transaction for a customer whose account the ledger remembers
// as existing, but the database lost (the transaction that opened it gone
// with a primary that failed over before a standby had it), opens it
// again and commits. Without it every group of that customer failed, on a
// NOT NULL violation, for as long as the server remembered the code.
func TestAGroupReopensAnAccountTheDatabaseLost(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "the database's last transactions are lost behind the ledger's back")
	ctx := context.Background()
	group := func(in ledger.EntryInput) error {
		return l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, []ledger.EntryInput{in}, nil, nil) })
	}
	if err := group(earn("Lost", "5")); err != nil {
		t.Fatal(err)
	}
	var lost int64
	if err := pool.QueryRow(ctx, `SELECT max(id) FROM entries`).Scan(&lost); err != nil {
		t.Fatal(err)
	}
	loseTail(t, pool, lost, accountID(t, pool, "customer:Lost:points"))
	if err := group(earn("Lost", "7")); err != nil {
		t.Fatalf("a group for the customer whose account was lost: %v", err)
	}
	if got := balance(t, l, "customer:Lost:points"); got.String() != "7" {
		t.Errorf("customer:Lost:points holds %s, want 7", got)
	}
	if err := group(earn("Lost", "1")); err != nil {
		t.Fatalf("the next group: %v", err)
	}
}
