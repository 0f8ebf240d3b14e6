package migrations_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/migrations"
)

// Servers of a new release started together each migrate the same empty
// database. The migrations that build or drop an index CONCURRENTLY wait
// for every transaction in flight; a second migrator blocked inside one,
// waiting for the migration lock, made a cycle PostgreSQL ended as a
// deadlock. Every one of them must succeed, and the schema end up at the
// newest version, clean.
func TestMigratorsStartedTogetherAllSucceed(t *testing.T) {
	target := testdb.Empty(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const migrators = 6
	errs := make([]error, migrators)
	var wg sync.WaitGroup
	for i := range migrators {
		wg.Go(func() { errs[i] = migrations.Up(ctx, target) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrations.New(target)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if v, dirty, err := m.Version(); err != nil || dirty || v != latest {
		t.Fatalf("version %d dirty %v err %v, want %d clean", v, dirty, err, latest)
	}
}
