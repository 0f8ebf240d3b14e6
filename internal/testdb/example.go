package testdb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ForExample is a fresh migrated database for a runnable example, which has
// no testing.TB: a pool on it, and the function that closes the pool and
// drops the database, for the example to defer. It panics when there is no
// database to be had, which fails the test binary: an example cannot be
// skipped. Its books are not checked; its Output is its check.
func ForExample() (*pgxpool.Pool, func()) {
	url, drop, err := create()
	if err != nil {
		panic(fmt.Sprintf("testdb: %v", err))
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		_ = drop()
		panic(fmt.Sprintf("testdb: %v", err))
	}
	return pool, func() {
		pool.Close()
		if err := drop(); err != nil {
			panic(fmt.Sprintf("testdb: %v", err))
		}
	}
}
