package migrations_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/golang-migrate/migrate/v4"

	"github.com/tally-ledger/tally/internal/servicetest"
)

// statementPages pages the account's statement (ledger.Statement) one
// posting at a time, and returns each page's posting ids and the cursor
// that follows the first page.
func statementPages(t *testing.T, e *servicetest.Env, code string) ([][]int64, int64) {
	t.Helper()
	var pages [][]int64
	var cursor, second int64
	for {
		lines, next, err := e.Ledger.Statement(context.Background(), code, cursor, 1)
		if err != nil {
			t.Fatalf("%s's statement from %d: %v", code, cursor, err)
		}
		var ids []int64
		for _, l := range lines {
			ids = append(ids, l.PostingID)
		}
		pages = append(pages, ids)
		if len(pages) == 1 {
			second = next
		}
		if next == 0 {
			return pages, second
		}
		cursor = next
	}
}

// Migrations 0038 to 0040, applied to a database the services wrote to:
// every row is as it was; postings keep one index by (account, id), of
// the postings that record a balance, naming its query; the statements of
// a customer's accounts and of the platform account page as before, a
// cursor given before the migration leading to the same page after it;
// the books prove. A build left invalid stops 0039, before 0040 drops the
// old index, and the way out the error gives works. Rolled back, the
// schema is 0037's again, rows intact.
func TestPostingsAccountIDMigrationsKeepEveryStatement(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 37)
	atHead(t, m, 37, func() { writeBusiness(t, e, "before") })
	accounts := []string{"customer:C01:points", "customer:C06:prepaid", "platform:points:earned:volume"}
	pagesAt37 := map[string][][]int64{}
	cursorsAt37 := map[string]int64{}
	for _, code := range accounts {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM postings p JOIN accounts a ON a.id = p.account_id WHERE a.code = $1`, code).Scan(&n); err != nil {
			t.Fatal(err)
		}
		pagesAt37[code], cursorsAt37[code] = statementPages(t, e, code)
		if got := len(slices.Concat(pagesAt37[code]...)); got != n || n < 2 {
			t.Fatalf("%s's statement at 37 shows %d postings of its %d (want 2 or more, all shown)", code, got, n)
		}
	}
	rowsAt37 := tableDigests(t, pool)

	swapIndexConcurrently(t, m, pool, "postings", "postings_account_id_nonnegative", "postings_account_id", 38)
	wantSameRows(t, "after 0040", rowsAt37, tableDigests(t, pool))
	want := []string{"postings_account_effective", "postings_account_id_nonnegative", "postings_account_xid", "postings_pkey"}
	if got := indexNamesOf(t, pool, []string{"postings"})["postings"]; !slices.Equal(got, want) {
		t.Errorf("postings' indexes after 0040: %v, want %v", got, want)
	}
	for index, comment := range indexCommentsOf(t, pool, []string{"postings"}) {
		if comment == "" {
			t.Errorf("after 0040, %s names no query", index)
		}
	}
	for _, code := range accounts {
		pages, _ := statementPages(t, e, code)
		if !slices.EqualFunc(pages, pagesAt37[code], slices.Equal) {
			t.Errorf("%s's statement after 0040: %v, was %v", code, pages, pagesAt37[code])
		}
		lines, _, err := e.Ledger.Statement(ctx, code, cursorsAt37[code], 1)
		var ids []int64
		for _, l := range lines {
			ids = append(ids, l.PostingID)
		}
		if err != nil || !slices.Equal(ids, pagesAt37[code][1]) {
			t.Errorf("%s's second page from the cursor given at 37: %v, %v; want %v", code, ids, err, pagesAt37[code][1])
		}
	}

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up to the latest: %v", err)
	}
	writeBusiness(t, e, "after")
	proveBooks(t, m, e, url)

	rowsAt40 := rowsAt(t, m, pool, 40)
	if err := m.Migrate(37); err != nil {
		t.Fatalf("0040 to 0038 down: %v", err)
	}
	wantSameRows(t, "after 0040 to 0038 down", rowsAt40, tableDigests(t, pool))
	want = []string{"postings_account_effective", "postings_account_id", "postings_account_xid", "postings_pkey"}
	if got := indexNamesOf(t, pool, []string{"postings"})["postings"]; !slices.Equal(got, want) {
		t.Errorf("postings' indexes after the downs: %v, want %v", got, want)
	}
	if c := indexCommentsOf(t, pool, []string{"postings"})["postings_account_id"]; c == "" {
		t.Errorf("after the downs, postings_account_id names no query")
	}
}
