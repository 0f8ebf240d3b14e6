package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// The sealer names accounts from what it remembers: it reads the code of
// an account once (earn's customer account and the platform's), not on
// every block, within its bound, and the links it makes still verify.
func TestTheSealerReadsAnAccountsCodeOnce(t *testing.T) {
	l, _ := newLedger(t)
	ledger.SealerRemembersAtMost(l, 4)
	seal := func(wantRead int) {
		t.Helper()
		sealCommitted(t, l)
		if got := ledger.SealerReadCodes(l); got != wantRead {
			t.Errorf("the sealer read %d codes, want %d", got, wantRead)
		}
		if n := ledger.SealerCodes(l); n > 8 {
			t.Errorf("the sealer remembers %d codes, over twice its bound of 4", n)
		}
		if v := verify(t, l, nil); !v.OK {
			t.Fatalf("verify: %+v", v.Broken)
		}
	}
	for range 3 {
		mustPost(t, l, earn("A", "5"))
		mustPost(t, l, earn("B", "5"))
	}
	seal(3) // customer:A:points, customer:B:points, the platform's account
	for range 3 {
		mustPost(t, l, earn("A", "5"))
		mustPost(t, l, earn("B", "5"))
	}
	seal(3)
	mustPost(t, l, earn("C", "5"))
	seal(4)
	// Past the bound: six new codes fill two generations, the codes
	// before them are dropped, and are read again when they come back
	// (A's and the platform's).
	for i := range 6 {
		mustPost(t, l, earn(fmt.Sprintf("D%d", i), "5"))
	}
	seal(10)
	mustPost(t, l, earn("A", "5"))
	seal(12)
	// A code found in the older generation moves to the newer one, and so
	// outlives the next turn of generations: D0 is not read again.
	mustPost(t, l, earn("D0", "5"))
	seal(12)
	mustPost(t, l, earn("E0", "5"))
	mustPost(t, l, earn("E1", "5"))
	seal(14)
	mustPost(t, l, earn("D0", "5"))
	seal(14)
}

// A database that lost its last transactions (a failover to a standby
// that had not received them) may issue a lost account's id again, to
// another code. The sealer, which remembered the lost account's code,
// sees that the chain no longer holds the last link it wrote, forgets
// what it remembered, and names the new account by its own code: the
// chain verifies, where a stale code sealed a false "altered" for good
// (helper-146's review of 83c7605).
func TestTheSealerForgetsItsCodesWhenTheChainLostItsLastLink(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "the database's last transactions are lost behind the ledger's back")
	mustPost(t, l, earn("A", "5"))
	sealCommitted(t, l)
	lost := mustPost(t, l, earn("Lost", "5"))
	sealCommitted(t, l) // the sealer reads, and remembers, customer:Lost:points
	lostThenReissued(t, l, pool, lost.ID)
}

// lostThenReissued loses the tail from entry lost (its entry, its
// customer's account customer:Lost:points and the chain's last block), then
// posts for a new customer, whose account gets the lost one's id, and
// wants the chain, sealed again, to verify: the entry before lost and the
// new one.
func lostThenReissued(t *testing.T, l *ledger.Ledger, pool *pgxpool.Pool, lost int64) {
	t.Helper()
	lostID := accountID(t, pool, "customer:Lost:points")
	loseTail(t, pool, lost, lostID)
	if v := verify(t, l, nil); !v.OK || v.Checked != 1 {
		t.Fatalf("after the lost tail: checked %d, broken %+v; want 1 intact", v.Checked, v.Broken)
	}
	mustPost(t, l, earn("Other", "7"))
	if got := accountID(t, pool, "customer:Other:points"); got != lostID {
		t.Fatalf("customer:Other:points got id %d, not the lost account's %d", got, lostID)
	}
	sealCommitted(t, l)
	if v := verify(t, l, nil); !v.OK || v.Checked != 2 {
		t.Fatalf("verify: checked %d, broken %+v; want 2 intact", v.Checked, v.Broken)
	}
}

func accountID(t *testing.T, pool *pgxpool.Pool, code string) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `SELECT id FROM accounts WHERE code = $1`, code).Scan(&id); err != nil {
		t.Fatalf("account %s: %v", code, err)
	}
	return id
}

// loseTail removes, as a promoted standby that never received them would
// not have them, an entry and an account created after the last WAL the
// standby got, with the chain's block that sealed the entry, and sets
// the accounts' identity back to where that standby's sequence is.
func loseTail(t *testing.T, pool *pgxpool.Pool, entry, account int64) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND column_name IN ('entry_id', 'account_id')
  AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema = current_schema())`)
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		v := entry
		if column == "account_id" {
			v = account
		}
		stmts = append(stmts, fmt.Sprintf(`DELETE FROM %q WHERE %q = %d`, table, column, v))
	}
	rows.Close()
	stmts = append(stmts,
		`DELETE FROM chain_blocks WHERE id = (SELECT max(id) FROM chain_blocks)`,
		fmt.Sprintf(`DELETE FROM entries WHERE id = %d`, entry),
		fmt.Sprintf(`DELETE FROM accounts WHERE id = %d`, account),
		fmt.Sprintf(`ALTER TABLE accounts ALTER COLUMN id RESTART WITH %d`, account))
	for _, s := range stmts {
		asAttacker(t, pool, s)
	}
}

// Another sealer's blocks after this one's last (two servers on one
// database) leave its codes standing: its last link is still in the chain.
func TestTheSealerKeepsItsCodesWhenAnotherSealedAfterIt(t *testing.T) {
	l, pool := newLedger(t)
	other := ledger.New(pool)
	mustPost(t, l, earn("A", "5"))
	sealCommitted(t, l)
	if got := ledger.SealerReadCodes(l); got != 2 {
		t.Fatalf("the sealer read %d codes, want 2", got)
	}
	mustPost(t, l, earn("B", "5"))
	sealCommitted(t, other)
	mustPost(t, l, earn("A", "5"))
	sealCommitted(t, l)
	if got := ledger.SealerReadCodes(l); got != 2 {
		t.Errorf("after another sealer's block, the sealer read %d codes, want still 2", got)
	}
	if v := verify(t, l, nil); !v.OK || v.Checked != 3 {
		t.Fatalf("verify: checked %d, broken %+v; want 3 intact", v.Checked, v.Broken)
	}
}

// A seal that fails after reading its block's codes leaves no link to
// hold them with: the sealer forgets them, so a database that then loses
// the transactions they were read after cannot leave it a stale code.
func TestTheSealerForgetsTheCodesAFailedSealRead(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "a block id taken and the database's last transactions lost behind the ledger's back")
	mustPost(t, l, earn("A", "5"))
	sealCommitted(t, l)
	lost := mustPost(t, l, earn("Lost", "5"))
	asAttacker(t, pool, `INSERT INTO chain_blocks (id, first_seq, last_seq, head, sealed_at)
SELECT max(id) + 1, 0, 0, '\x00', now() FROM chain_blocks`) // the next block's id, taken
	if _, err := l.SealAll(context.Background()); err == nil {
		t.Fatal("sealed a block under a taken id")
	}
	if got := ledger.SealerReadCodes(l); got != 3 {
		t.Fatalf("the failed seal read %d codes in all, want 3 (its own: customer:Lost:points)", got)
	}
	lostThenReissued(t, l, pool, lost.ID) // the taken block goes with the tail
}
