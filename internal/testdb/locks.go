package testdb

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// LockWaiters is how many sessions of pool's database wait for a
// heavyweight lock (a row, a tuple, a transaction's end): how a test knows
// that a writer it started is held where it means it to be.
func LockWaiters(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
	return n, err
}

// WaitForLockWaiters waits until at least n sessions of pool's database
// wait for a lock, and fails tb if they do not within 30 s (a bound for a
// stuck test, not a timing).
func WaitForLockWaiters(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		waiting, err := LockWaiters(context.Background(), pool)
		if err != nil {
			tb.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d sessions waited for a lock in 30 s, want %d", waiting, n)
		}
	}
}
