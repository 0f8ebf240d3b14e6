package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// TestDurableWaitsForTheSynchronousStandbys: Durable returns only once
// what committed before it is acknowledged by the synchronous standbys.
// On a cluster of the test's own whose synchronous_standby_names names a
// standby that never connects, no commit is ever acknowledged: Durable
// must not answer nil. PostgreSQL makes a commit wait for the standbys
// only when its transaction wrote WAL before its commit record (an xid
// alone, pg_current_xact_id(), writes none: such a commit is asynchronous
// and waits for nobody), and a wait cut short by a cancel (the caller's
// context ending) still answers COMMIT, with a warning only. Once the
// setting is emptied, Durable answers nil at once.
func TestDurableWaitsForTheSynchronousStandbys(t *testing.T) {
	ctx := context.Background()
	_, url := testdb.OwnCluster(t, "pgsyncwait", pgdev.Options{Fast: true, Settings: "synchronous_commit = on\n"}, false)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	standbys := func(names string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `ALTER SYSTEM SET synchronous_standby_names = '`+names+`'`); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the checkpointer takes the setting up
	}
	l := ledger.New(pool)

	standbys("nosuch")
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	start := time.Now()
	err = l.Durable(dctx)
	cancel()
	if err == nil {
		t.Errorf("Durable answered nil after %v with no synchronous standby to acknowledge anything", time.Since(start).Round(time.Millisecond))
	}

	standbys("")
	dctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.Durable(dctx); err != nil {
		t.Errorf("Durable without synchronous standbys: %v", err)
	}
}
