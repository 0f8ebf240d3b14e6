package migrations_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/golang-migrate/migrate/v4"
)

// Migration 0037, applied to a database whose chain the services sealed:
// every row is as it was, chain_links keeps its primary key alone, the
// chain verifies link by link, and the sealer goes on linking what is
// written after it. Rolled back, the unique index on the linked entry is
// back, with its comment, the rows as they were.
func TestChainLinksOneIndexMigrationKeepsTheChain(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 36)
	atHead(t, m, 36, func() { writeBusiness(t, e, "before") })
	sealed, err := e.Ledger.SealAll(ctx)
	if err != nil || sealed == 0 {
		t.Fatalf("sealed %d at 36: %v", sealed, err)
	}
	rowsAt36 := tableDigests(t, pool)
	wantIndexes := func(when string, want ...string) {
		t.Helper()
		if got := indexNamesOf(t, pool, []string{"chain_links"})["chain_links"]; !slices.Equal(got, want) {
			t.Errorf("%s: chain_links' indexes %v, want %v", when, got, want)
		}
	}
	wantVerified := func(when string, links int64) {
		t.Helper()
		v, err := e.Ledger.Verify(ctx, nil, nil)
		if err != nil || !v.OK || v.Checked != links {
			t.Errorf("%s: verify = %+v, %v; want %d links checked, ok", when, v, err, links)
		}
	}
	wantIndexes("at 36", "chain_links_entry_id_key", "chain_links_pkey")

	if err := m.Migrate(37); err != nil {
		t.Fatalf("0037 up: %v", err)
	}
	wantSameRows(t, "after 0037", rowsAt36, tableDigests(t, pool))
	wantIndexes("after 0037", "chain_links_pkey")
	wantVerified("after 0037", int64(sealed))

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up to the latest: %v", err)
	}
	writeBusiness(t, e, "after")
	more, err := e.Ledger.SealAll(ctx)
	if err != nil || more == 0 {
		t.Fatalf("sealed %d after 0037: %v", more, err)
	}
	wantVerified("written and sealed after 0037", int64(sealed+more))
	proveBooks(t, m, e, url)

	rowsAt37 := rowsAt(t, m, pool, 37)
	if err := m.Migrate(36); err != nil {
		t.Fatalf("0037 down: %v", err)
	}
	wantSameRows(t, "after 0037 down", rowsAt37, tableDigests(t, pool))
	wantIndexes("after 0037 down", "chain_links_entry_id_key", "chain_links_pkey")
	if c := indexCommentsOf(t, pool, []string{"chain_links"})["chain_links_entry_id_key"]; c == "" {
		t.Errorf("after 0037 down: chain_links_entry_id_key has no comment")
	}
	wantVerified("after 0037 down", int64(sealed+more))
}
