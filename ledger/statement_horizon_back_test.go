package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// horizonCluster is a cluster of the test's own, which can prepare
// transactions (max_prepared_transactions), with a ledger on one database
// and a pool on another. A prepared transaction holds back the horizon of
// every database of its cluster: on the cluster the other packages' tests
// share, it would hold back their statements, feeds and sealer.
func horizonCluster(t *testing.T) (*ledger.Ledger, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	c, url := testdb.OwnCluster(t, "pghorizon", pgdev.Options{Fast: true, Settings: "max_prepared_transactions = 4\n"}, true)
	otherURL, _, err := c.Ensure(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	other, err := pgxpool.New(ctx, otherURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	return ledger.New(pool), other
}

// holdInAnotherDatabase opens a transaction, with an xid, in the other
// database of the test's cluster (pg_stat_activity knows it: no statement
// counts it), and returns what prepares it (PREPARE TRANSACTION): its
// session no longer holds it, pg_stat_activity no longer knows it, and
// every horizon read from then on counts it (qHorizon cannot tell whose it
// is). The horizon so moves back, below postings that pages were read past.
func holdInAnotherDatabase(t *testing.T, otherPool *pgxpool.Pool) (prepare func()) {
	t.Helper()
	ctx := context.Background()
	other, err := otherPool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	const gid = "tally-test-horizon"
	prepared := false
	t.Cleanup(func() {
		if prepared {
			otherPool.Exec(context.Background(), `ROLLBACK PREPARED '`+gid+`'`)
		} else {
			other.Exec(context.Background(), `ROLLBACK`)
		}
		other.Release()
	})
	return func() {
		t.Helper()
		if _, err := other.Exec(ctx, `PREPARE TRANSACTION '`+gid+`'`); err != nil {
			t.Fatal(err)
		}
		prepared = true
	}
}

// A platform account's page shows every posting below its cursor, even
// when the horizon has moved back below the cursor (holdInAnotherDatabase):
// the cursor was below the horizon of the page that showed it, so every
// posting below it had committed then. A page that also kept only the
// postings below its own horizon skipped them (the statement ended there),
// and the balances after the next ones would have been off by their
// amounts.
func TestPlatformStatementPageIsCompleteWhenTheHorizonMovesBack(t *testing.T) {
	l, other := horizonCluster(t)
	ctx := context.Background()
	prepare := holdInAnotherDatabase(t, other)
	const code = "platform:points:earned:volume"
	for i := range 4 {
		mustPost(t, l, earn(fmt.Sprint("C", i), fmt.Sprint(i+1)))
	}
	first, next, err := l.Statement(ctx, code, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || next == 0 {
		t.Fatalf("the first page, with the other database's transaction open: %d lines, next %d; want 2 and a cursor", len(first), next)
	}
	prepare()
	second, _, err := l.Statement(ctx, code, next, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 2 {
		t.Fatalf("the second page shows %d postings, want the 2 below the cursor: %+v", len(second), second)
	}
	wantRunningBalance(t, second, first[len(first)-1].BalanceAfter.Sub(first[len(first)-1].Amount))
}

// A customer's statement (Tx.AccountsStatement) page shows every entry
// below its cursor, even when the horizon has moved back below the cursor
// (holdInAnotherDatabase): kept below its own horizon too, the page was
// empty, its next 0, and the reader took the statement to end there.
func TestAccountsStatementPageIsCompleteWhenTheHorizonMovesBack(t *testing.T) {
	l, other := horizonCluster(t)
	ctx := context.Background()
	prepare := holdInAnotherDatabase(t, other)
	codes := []string{"customer:C:points", "customer:C:prepaid", "customer:C:rebate"}
	var posted []int64
	for i := range 4 {
		posted = append(posted, mustPost(t, l, earn("C", fmt.Sprint(i+1))).ID)
	}
	page := func(before int64) (ids []int64, next int64) {
		t.Helper()
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			entries, n, err := tx.AccountsStatement(ctx, codes, before, 2)
			ids, next = nil, n
			for _, e := range entries {
				ids = append(ids, e.ID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids, next
	}
	first, next := page(0)
	if !slices.Equal(first, []int64{posted[3], posted[2]}) || next == 0 {
		t.Fatalf("the first page: %v, next %d; want %v and a cursor", first, next, []int64{posted[3], posted[2]})
	}
	prepare()
	if second, _ := page(next); !slices.Equal(second, []int64{posted[1], posted[0]}) {
		t.Errorf("the second page: %v, want the entries below the cursor %v", second, []int64{posted[1], posted[0]})
	}
}
