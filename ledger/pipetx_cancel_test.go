package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/ledger"
)

// slowCommit makes every COMMIT that inserted an entry wait for advisory
// lock 4242 (a deferred constraint trigger); swallow: the trigger ignores a
// cancel request (as a COMMIT waiting for a sync standby does).
func slowCommit(t *testing.T, pool *pgxpool.Pool, swallow bool) {
	body := `PERFORM pg_advisory_xact_lock_shared(4242);`
	if swallow {
		body = `BEGIN PERFORM pg_advisory_xact_lock_shared(4242); EXCEPTION WHEN query_canceled THEN NULL; END;`
	}
	for _, s := range []string{
		`CREATE OR REPLACE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` + body + ` RETURN NULL; END $$`,
		`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON entries DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`,
	} {
		if _, err := pool.Exec(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// holdCommits holds lock 4242 until ctx ends.
func holdCommits(t *testing.T, pool *pgxpool.Pool, ctx context.Context) chan struct{} {
	c, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(context.Background(), `SELECT pg_advisory_lock(4242)`); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // pgx has had time to drop/cancel
		_, _ = c.Exec(context.Background(), `SELECT pg_advisory_unlock(4242)`)
		c.Release()
		close(released)
	}()
	return released
}

// TestACommitAfterCallbacksIsAnsweredAsItEnded: a batch with callbacks (a
// redemption's debit of a balance row) commits after them, in a round trip
// of its own, and a context that ends during that COMMIT (one a cancel
// does not stop, as one waiting for a synchronous standby) is answered as
// it ended: committed. (Found by review of d820a06: that COMMIT went on the
// caller's context, and 5 of 5 attempts were answered failed and
// committed.)
func TestACommitAfterCallbacksIsAnsweredAsItEnded(t *testing.T) {
	bg := context.Background()
	l, pool := newLedger(t)
	mustPost(t, l, earn("C1", "100"))
	slowCommit(t, pool, true) // a COMMIT that a cancel does not stop (a sync-standby wait)
	for name, write := range map[string]func(ctx context.Context, tx *ledger.Tx) error{
		"PostManyAndCommit(redeem)": func(ctx context.Context, tx *ledger.Tx) error {
			return tx.PostManyAndCommit(ctx, []ledger.EntryInput{redeem("C1", "1")}, nil, nil)
		},
		"Post(redeem)": func(ctx context.Context, tx *ledger.Tx) error { _, err := tx.Post(ctx, redeem("C1", "1")); return err },
	} {
		bad := 0
		for i := range 5 {
			before := count(t, pool, "entries")
			ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
			released := holdCommits(t, pool, ctx)
			err := l.InTx(ctx, func(tx *ledger.Tx) error { return write(ctx, tx) })
			cancel()
			<-released
			time.Sleep(300 * time.Millisecond)
			wrote := count(t, pool, "entries") != before
			t.Logf("%s %d: err=%v wrote=%v", name, i, err, wrote)
			if wrote == (err != nil) {
				bad++
				t.Errorf("%s attempt %d: answered %v, committed: %v", name, i, err, wrote)
			}
		}
		t.Logf("%s: %d of 5 disagree", name, bad)
	}
}

// TestAConfirmedCommitNeedsNoSecondConnection: a commit cut short by its
// context is confirmed durable on a connection of the pool, after its own
// went back: with a pool of one connection, it is answered committed at
// once. (Found by review of d820a06: it waited 5 s for a second
// connection, and answered a failure.)
func TestAConfirmedCommitNeedsNoSecondConnection(t *testing.T) {
	bg := context.Background()
	_, pool := newLedger(t)
	l := ledger.New(onePool(t, pool, nil))
	mustPost(t, l, earn("C1", "100"))
	slowCommit(t, pool, true)
	for i := range 3 {
		before := count(t, pool, "entries")
		ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
		released := holdCommits(t, pool, ctx)
		start := time.Now()
		err := l.InTx(ctx, func(tx *ledger.Tx) error { _, err := tx.Post(ctx, earn(fmt.Sprint("R", i), "1")); return err })
		took := time.Since(start)
		cancel()
		<-released
		wrote := count(t, pool, "entries") != before
		t.Logf("attempt %d: took %v, answered %v, committed %v", i, took.Round(time.Millisecond), err, wrote)
		if wrote && err != nil {
			t.Errorf("attempt %d: committed and durable, answered %v after %v", i, err, took.Round(time.Millisecond))
		}
	}
}
