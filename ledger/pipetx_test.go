package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// count is the rows of table.
func count(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestATransactionsBeginAndCommitRideWithItsStatements counts the round
// trips of InTx: a transaction in which nothing runs sends nothing; one
// PostMany (which reserves its ids in a round trip of its own) makes three,
// its BEGIN in the first and its COMMIT in the last with the platform
// accounts' statement; PostManyAndCommit makes two, its COMMIT with its
// writes. Each commits what it posted.
func TestATransactionsBeginAndCommitRideWithItsStatements(t *testing.T) {
	ctx := context.Background()
	pool, counter := testdb.CountedPool(t)
	l := ledger.New(pool)
	post := func(and bool) error {
		return l.InTx(ctx, func(tx *ledger.Tx) error {
			if and {
				return tx.PostManyAndCommit(ctx, []ledger.EntryInput{earn("C1", "1")}, nil, nil)
			}
			return tx.PostMany(ctx, []ledger.EntryInput{earn("C1", "1")}, nil, nil)
		})
	}
	for _, and := range []bool{false, true} { // prepares the statements
		if err := post(and); err != nil {
			t.Fatal(err)
		}
	}
	if trips, _ := counter.Measure(func() {
		if err := l.InTx(ctx, func(*ledger.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}); trips != 0 {
		t.Errorf("an empty transaction: %d round trips, want 0", trips)
	}
	for _, c := range []struct {
		and   bool
		trips int
	}{{false, 3}, {true, 2}} {
		trips, _ := counter.Measure(func() {
			if err := post(c.and); err != nil {
				t.Fatal(err)
			}
		})
		if trips != c.trips {
			t.Errorf("PostMany (and commit: %v): %d round trips, want %d", c.and, trips, c.trips)
		}
	}
	wantBalance(t, l, "customer:C1:points", "4")
	wantBalance(t, l, "platform:points:earned:volume", "-4")
}

// TestPostManyAndCommitCommitsNothingWhenItFails: a statement of its round
// trip that fails in PostgreSQL, or a callback of it that fails in Go,
// leaves nothing of the transaction; the pool's connections go on working.
// A caller that fails after the commit is told the transaction committed,
// and a statement after the commit is refused.
func TestPostManyAndCommitCommitsNothingWhenItFails(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	mustPost(t, l, earn("C1", "5"))
	entries := count(t, pool, "entries")
	refusedInGo := errors.New("refused in Go")
	for name, then := range map[string]func([]int64, *pgx.Batch) error{
		"a statement that fails in PostgreSQL": func(_ []int64, b *pgx.Batch) error {
			b.Queue(`SELECT 1 / (SELECT count(*) - count(*) FROM entries)`)
			return nil
		},
		"a callback that fails in Go": func(_ []int64, b *pgx.Batch) error {
			b.Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { return refusedInGo })
			return nil
		},
	} {
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			return tx.PostManyAndCommit(ctx, []ledger.EntryInput{earn("C1", "3"), earn("C2", "3")}, nil, then)
		})
		if err == nil {
			t.Errorf("%s: committed", name)
		}
		if n := count(t, pool, "entries"); n != entries {
			t.Errorf("%s: %d entries, want %d", name, n, entries)
		}
	}
	wantBalance(t, l, "customer:C1:points", "5")
	wantBalance(t, l, "platform:points:earned:volume", "-5")

	after := errors.New("failed after")
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		if err := tx.PostManyAndCommit(ctx, []ledger.EntryInput{earn("C1", "2")}, nil, nil); err != nil {
			return err
		}
		return after
	})
	if !errors.Is(err, after) || !strings.Contains(err.Error(), "committed") {
		t.Errorf("a failure after the commit: %v, want it to say the transaction committed", err)
	}
	err = l.InTx(ctx, func(tx *ledger.Tx) error {
		if err := tx.PostManyAndCommit(ctx, []ledger.EntryInput{earn("C1", "2")}, nil, nil); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT 1`)
		return err
	})
	if !errors.Is(err, pgx.ErrTxClosed) {
		t.Errorf("a statement after the commit: %v, want %v", err, pgx.ErrTxClosed)
	}
	wantBalance(t, l, "customer:C1:points", "9")
	wantBalance(t, l, "platform:points:earned:volume", "-9")
}

// TestAPreviewNeverCommits: PostManyAndCommit in a preview is PostMany,
// and the preview rolls back what it wrote.
func TestAPreviewNeverCommits(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	mustPost(t, l, earn("C1", "5"))
	entries := count(t, pool, "entries")
	var inside int
	if err := l.Preview(ctx, []string{"C1"}, func(tx *ledger.Tx) error {
		if err := tx.PostManyAndCommit(ctx, []ledger.EntryInput{earn("C1", "3")}, nil, nil); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&inside)
	}); err != nil {
		t.Fatal(err)
	}
	if inside != entries+1 {
		t.Errorf("inside the preview: %d entries, want %d", inside, entries+1)
	}
	if n := count(t, pool, "entries"); n != entries {
		t.Errorf("after the preview: %d entries, want %d", n, entries)
	}
	wantBalance(t, l, "customer:C1:points", "5")
}

// TestNothingRunsOutsideTheTransaction: when the batch that carried a
// transaction's BEGIN failed before PostgreSQL ran it (a statement that
// does not parse), a caller that goes on regardless is refused: its
// statements would otherwise run, and commit, outside any transaction. A
// batch that failed while running leaves the transaction failed, and
// PostgreSQL refuses what follows.
func TestNothingRunsOutsideTheTransaction(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE pipetx_probe (n int)`); err != nil {
		t.Fatal(err)
	}
	for name, first := range map[string]string{
		"does not parse": `SELEKT 1`,
		"fails running":  `SELECT 1 / (SELECT count(*) - count(*) FROM pipetx_probe)`,
	} {
		var after error
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			var b pgx.Batch
			b.Queue(first)
			if err := tx.SendBatch(ctx, &b).Close(); err == nil {
				t.Errorf("%s: no error", name)
			}
			_, after = tx.Exec(ctx, `INSERT INTO pipetx_probe VALUES (1)`)
			return nil
		})
		if after == nil {
			t.Errorf("%s: the statement after it ran", name)
		}
		if err == nil {
			t.Errorf("%s: the transaction committed", name)
		}
		if n := count(t, pool, "pipetx_probe"); n != 0 {
			t.Errorf("%s: %d rows written, want 0", name, n)
		}
	}
	mustPost(t, l, earn("C1", "1")) // the connections still work
	wantBalance(t, l, "customer:C1:points", "1")
}

// TestAContextEndingAtTheCommitIsAnsweredAsItEnded: the batch that carries
// a transaction's COMMIT waits for a lock (every bucket of the platform
// account held by another transaction), and its context ends as the lock
// is released. However the race goes (the statement cancelled before the
// COMMIT, or the COMMIT run first), the answer says what happened: an
// error only when nothing was committed. (Found by review: pgx drops the
// connection when a context ends, and PostgreSQL, holding the COMMIT
// already, committed what the caller was told had failed, in 9 to 12 of 20
// attempts.) Both ways to the COMMIT: PostManyAndCommit, and the platform
// accounts' statement at the end of InTx.
func TestAContextEndingAtTheCommitIsAnsweredAsItEnded(t *testing.T) {
	bg := context.Background()
	l, pool := newLedger(t)
	mustPost(t, l, earn("C1", "1"))
	for name, write := range map[string]func(ctx context.Context, tx *ledger.Tx, in ledger.EntryInput) error{
		"PostManyAndCommit": func(ctx context.Context, tx *ledger.Tx, in ledger.EntryInput) error {
			return tx.PostManyAndCommit(ctx, []ledger.EntryInput{in}, nil, nil)
		},
		"Post, then the platform accounts with the COMMIT": func(ctx context.Context, tx *ledger.Tx, in ledger.EntryInput) error {
			_, err := tx.Post(ctx, in)
			return err
		},
	} {
		const attempts = 12
		var told, committed int
		for i := range attempts {
			before := count(t, pool, "entries")
			holder, err := pool.Begin(bg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := holder.Exec(bg, `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT a.id, g, a.allow_negative, 0 FROM accounts a, generate_series(0, 1023) g WHERE a.code = 'platform:points:earned:volume'
ON CONFLICT (account_id, bucket) DO UPDATE SET balance = balance_buckets.balance`); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
			released := make(chan struct{})
			go func() { <-ctx.Done(); _ = holder.Commit(bg); close(released) }()
			err = l.InTx(ctx, func(tx *ledger.Tx) error { return write(ctx, tx, earn(fmt.Sprint("R", i), "7")) })
			cancel()
			<-released
			time.Sleep(300 * time.Millisecond) // what PostgreSQL still had to do, done
			wrote := count(t, pool, "entries") != before
			if wrote {
				committed++
			}
			if err != nil {
				told++
			}
			if wrote == (err != nil) {
				t.Errorf("%s, attempt %d: answered %v, committed: %v", name, i, err, wrote)
			}
		}
		t.Logf("%s: %d of %d answered failed, %d committed", name, told, attempts, committed)
	}
	if n := count(t, pool, "pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"); n != 0 {
		t.Errorf("%d sessions left in a transaction", n)
	}
}
