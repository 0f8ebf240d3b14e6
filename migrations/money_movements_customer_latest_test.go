package migrations_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/golang-migrate/migrate/v4"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// historyOf is a customer's prepaid history (prepaid.History) as the
// entry ids of its movements, in the order shown.
func historyOf(t *testing.T, e *servicetest.Env, customer string) []int64 {
	t.Helper()
	ms, err := e.Prepaid.History(context.Background(), customer, 50)
	if err != nil {
		t.Fatalf("%s's history: %v", customer, err)
	}
	var ids []int64
	for _, m := range ms {
		ids = append(ids, m.EntryID)
	}
	return ids
}

// Migrations 0042 to 0044, applied to a database the services wrote to:
// every row is as it was; money movements keep one index by customer, in
// the order of a customer's history, naming its query, and the history is
// read from it without a sort; a customer's history is as before. A build
// left invalid stops 0043, before 0044 drops the old index, and the way out
// the error gives works. Rolled back, the indexes are 0041's, rows intact.
func TestMoneyMovementsCustomerLatestMigrationsKeepTheHistory(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 41)
	atHead(t, m, 41, func() {
		writeBusiness(t, e, "before")
		for _, amount := range []string{"1200.00", "80.00", "5.25"} {
			e.MustMoney(prepaid.Deposit, "C06", amount)
			e.MustMoney(prepaid.Charge, "C06", "1.00")
		}
	})
	historyAt41 := historyOf(t, e, "C06")
	if len(historyAt41) < 8 {
		t.Fatalf("C06's history at 41 holds %d movements, want 8", len(historyAt41))
	}
	rowsAt41 := tableDigests(t, pool)
	indexesAt41 := indexNamesOf(t, pool, []string{"money_movements"})["money_movements"]

	swapIndexConcurrently(t, m, pool, "money_movements", "money_movements_customer_latest", "money_movements_customer", 42)
	wantSameRows(t, "after 0044", rowsAt41, tableDigests(t, pool))
	want := []string{"money_movements_customer_latest", "money_movements_pkey"}
	if got := indexNamesOf(t, pool, []string{"money_movements"})["money_movements"]; !slices.Equal(got, want) {
		t.Errorf("money_movements' indexes after 0044: %v, want %v", got, want)
	}
	for index, comment := range indexCommentsOf(t, pool, []string{"money_movements"}) {
		if comment == "" {
			t.Errorf("after 0044, %s names no query", index)
		}
	}
	if got := historyOf(t, e, "C06"); !slices.Equal(got, historyAt41) {
		t.Errorf("C06's history after 0044: %v, was %v", got, historyAt41)
	}
	// The page is read in the index's order: no sort, whatever the table's
	// size (the planner is kept off a scan of the few rows here).
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := tx.Query(ctx, `EXPLAIN (COSTS OFF) `+prepaid.QHistory, "C06", 50)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if p := plan.String(); !strings.Contains(p, "money_movements_customer_latest") || strings.Contains(p, "Sort") {
		t.Errorf("the history's plan reads no index in its order:\n%s", p)
	}
	tx.Rollback(ctx)

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up to the latest: %v", err)
	}
	writeBusiness(t, e, "after")
	proveBooks(t, m, e, url)

	downKeepsRows(t, m, pool, 44, 41, "money_movements", indexesAt41)
	if c := indexCommentsOf(t, pool, []string{"money_movements"})["money_movements_customer"]; c == "" {
		t.Errorf("after the downs, money_movements_customer names no query")
	}
}
