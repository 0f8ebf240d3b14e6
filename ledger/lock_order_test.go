package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// Post locks balance rows in account-code order whatever the order of the
// postings, the same order Tx.Post and PostMany use, so that no two entries
// wait for each other in a cycle. Seen from outside: while Post waits for
// the row of customer C2 (held by another transaction), it already holds the
// row of C1, which sorts before it.
func TestPostLocksBalanceRowsInAccountCodeOrder(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "10"))
	mustPost(t, l, earn("C2", "10"))
	const row = `SELECT 1 FROM balance_buckets WHERE account_id = (SELECT id FROM accounts WHERE code = $1) FOR UPDATE`

	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, row, "customer:C2:points"); err != nil {
		t.Fatal(err)
	}

	posted := make(chan error, 1)
	go func() {
		_, _, err := l.Post(ctx, ledger.EntryInput{Kind: "transfer", Actor: "test", Postings: []ledger.PostingInput{
			{Account: "customer:C2:points", Amount: d("3"), Lot: farFuture},
			{Account: "customer:C1:points", Amount: d("-3")},
		}})
		posted <- err
	}()
	// Wait until Post waits for a lock (the row of C2).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-posted:
			t.Fatalf("Post finished (%v) while the row of C2 was locked", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Post never waited for the row of C2")
		}
		time.Sleep(10 * time.Millisecond)
	}

	probe, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = probe.Exec(ctx, row+` NOWAIT`, "customer:C1:points")
	probe.Rollback(ctx)
	if pgErrCode(err) != "55P03" { // lock_not_available
		t.Errorf("locking the row of C1 while Post waits for C2: %v, want it held by Post", err)
	}

	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-posted; err != nil {
		t.Fatalf("Post after the row was released: %v", err)
	}
	wantBalance(t, l, "customer:C1:points", "7")
	wantBalance(t, l, "customer:C2:points", "13")
	mustReconcile(t, l)
}
