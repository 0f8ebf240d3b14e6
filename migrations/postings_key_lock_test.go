package migrations_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// postingsKeyedAt is the version at which postings are keyed by (entry,
// account).
const postingsKeyedAt = 34

// session is a transaction of its own on the pool, held until the test
// ends: its backend's pid, a function that runs a statement in it, and one
// that commits it.
func session(t *testing.T, pool *pgxpool.Pool) (int, func(string) error, func() error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	return pid, func(q string) error { _, err := tx.Exec(ctx, q); return err }, func() error { return tx.Commit(ctx) }
}

// Re-keying postings, on a database where a server of the previous release
// still runs (an upgrade), must not deadlock with a transaction that reads
// an entry's postings and then posts: Tx.Reverse (a cancelled redemption,
// a reversed movement, an expiry's undo) does just that. A migration that
// holds a lock on postings which blocks writers, then asks for a stronger
// one, waits for the reader while the reader's insert waits for it: one of
// the two is aborted (a failed upgrade, or a failed reversal).
func TestPostingsKeyMigrationDoesNotDeadlockAReaderThatThenWrites(t *testing.T) {
	ctx := context.Background()
	_, m, pool, _ := schemaAt(t, 32)
	pid, exec, commit := session(t, pool)
	// The reversal reads the entry's postings...
	if err := exec(`SELECT count(*) FROM postings WHERE entry_id = 1`); err != nil {
		t.Fatal(err)
	}
	migrated := make(chan error, 1)
	go func() { migrated <- m.Migrate(postingsKeyedAt) }()
	// ...the migration starts and waits for something...
	deadline := time.Now().Add(10 * time.Second)
	for waiting := false; !waiting && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND pid <> $1)`, pid).
			Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	// ...and the reversal posts (no row: the lock is what matters).
	werr := exec(`INSERT INTO postings (entry_id, account_id, asset, amount, effective_at)
SELECT entry_id, account_id, asset, amount, effective_at FROM postings WHERE false`)
	if werr == nil {
		werr = commit()
	}
	var merr error
	select {
	case merr = <-migrated:
	case <-time.After(60 * time.Second):
		t.Fatal("the migration did not end")
	}
	if werr != nil || merr != nil {
		t.Errorf("a reader that then writes, during the migration: %v; the migration: %v; want both to succeed", werr, merr)
	}
}

// The same, the other way round: a writer in flight when the migration
// starts holds it back; meanwhile a reversal reads postings and queues its
// insert behind the migration. Once the writer commits, the migration
// builds its index and asks for the table to itself, which the reversal's
// read holds: the upgrade must not be the one aborted (golang-migrate then
// leaves the schema marked dirty, and no server starts until an operator
// forces the version).
func TestPostingsKeyMigrationIsNotAbortedByAReaderThatThenWrites(t *testing.T) {
	ctx := context.Background()
	_, m, pool, _ := schemaAt(t, 32)
	const noRow = `INSERT INTO postings (entry_id, account_id, asset, amount, effective_at)
SELECT entry_id, account_id, asset, amount, effective_at FROM postings WHERE false`
	// waiters waits until n sessions wait for a lock, or done is.
	waiters := func(n int, done *atomic.Bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && !done.Load() {
			var w int
			if err := pool.QueryRow(ctx, `SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted`).Scan(&w); err != nil {
				t.Fatal(err)
			}
			if w >= n {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !done.Load() {
			t.Fatalf("fewer than %d sessions waiting", n)
		}
	}
	var never, reversalDone atomic.Bool
	_, inFlight, commitInFlight := session(t, pool)
	if err := inFlight(noRow); err != nil {
		t.Fatal(err)
	}
	migrated := make(chan error, 1)
	go func() { migrated <- m.Migrate(postingsKeyedAt) }()
	waiters(1, &never) // the migration, behind the writer in flight
	_, reversal, commitReversal := session(t, pool)
	if err := reversal(`SELECT count(*) FROM postings WHERE entry_id = 1`); err != nil {
		t.Fatal(err)
	}
	reversed := make(chan error, 1)
	go func() {
		err := reversal(noRow)
		if err == nil {
			err = commitReversal()
		}
		reversalDone.Store(true)
		reversed <- err
	}()
	waiters(2, &reversalDone) // the reversal's insert too, unless nothing held it back
	if err := commitInFlight(); err != nil {
		t.Fatal(err)
	}
	var merr, rerr error
	for range 2 {
		select {
		case merr = <-migrated:
		case rerr = <-reversed:
		case <-time.After(60 * time.Second):
			t.Fatal("the migration or the reversal did not end")
		}
	}
	version, dirty, _ := m.Version()
	if merr != nil {
		t.Errorf("the migration: %v (schema version %d, dirty %v); the reversal: %v", merr, version, dirty, rerr)
	}
}
