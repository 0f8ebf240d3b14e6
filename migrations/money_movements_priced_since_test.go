package migrations_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/prepaid"
)

// Migrations 0049 and 0050, applied to a database the services wrote to
// (withdrawals, charges from principal and from rebate, a reversal): every
// row is as it was; the new index holds exactly the withdrawals and the
// charges that drew on rebate (reversed or not: a reversal's update stays
// HOT), names its query, and a reversal's question reads it on a generic
// plan; reversals refuse and go
// through as before. A build left invalid stops 0050, and the way out its
// error gives works. Rolled back, the indexes are 0048's, rows intact.
func TestMoneyMovementsPricedSinceIndex(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 48)
	var charges [3]prepaid.MoneyMovement
	atHead(t, m, 48, func() {
		writeBusiness(t, e, "before")
		e.MustMoney(prepaid.Deposit, "C07", "50000")
		charges[0] = e.MustMoney(prepaid.Charge, "C07", "50000")
		charges[1] = e.MustMoney(prepaid.Charge, "C07", "100")
		charges[2] = e.MustMoney(prepaid.Charge, "C07", "100")
		if _, err := e.Prepaid.ReverseMoney(ctx, prepaid.Charge, "", charges[2].ID, "test", "admin"); err != nil {
			t.Fatal(err)
		}
		e.MustMoney(prepaid.Deposit, "C07", "1000")
		e.MustMoney(prepaid.Withdrawal, "C07", "10")
	})
	rowsAt48 := tableDigests(t, pool)
	indexesAt48 := indexNamesOf(t, pool, []string{"money_movements"})["money_movements"]

	// An interrupted build stops 0050; drop, force 48 and migrate again.
	if err := m.Migrate(49); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'money_movements_priced_since'::regclass`); err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(50); err == nil || !strings.Contains(err.Error(), "money_movements_priced_since is missing or invalid") {
		t.Fatalf("0050 over an invalid index: %v, want it refused", err)
	}
	if _, err := pool.Exec(ctx, `DROP INDEX money_movements_priced_since`); err != nil {
		t.Fatal(err)
	}
	if err := m.Force(48); err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(50); err != nil {
		t.Fatalf("0049 to 0050 again: %v", err)
	}
	wantSameRows(t, "after 0050", rowsAt48, tableDigests(t, pool))
	if c := indexCommentsOf(t, pool, []string{"money_movements"})["money_movements_priced_since"]; !strings.Contains(c, "prepaid.QPricedSince") {
		t.Errorf("money_movements_priced_since's comment %q names no query", c)
	}

	// The index holds the withdrawals and the charges from rebate: read
	// through it, they are those a scan of the table finds.
	const standing = `SELECT id FROM money_movements
WHERE kind = 'withdrawal' OR (kind = 'charge' AND from_rebate > 0) ORDER BY customer_id, entry_id`
	read := func(settings ...string) []string {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		for _, set := range settings {
			if _, err := tx.Exec(ctx, `SET LOCAL `+set); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.Query(ctx, standing)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if plan := testdb.GenericPlanWith(t, pool, []string{"enable_seqscan = off", "enable_bitmapscan = off"}, standing); !strings.Contains(plan, "money_movements_priced_since") {
		t.Fatalf("the standing movements are not read from the index:\n%s", plan)
	}
	inIndex := read("enable_seqscan = off", "enable_bitmapscan = off")
	inTable := read("enable_indexscan = off", "enable_bitmapscan = off", "enable_indexonlyscan = off")
	if !slices.Equal(inIndex, inTable) || !slices.Contains(inTable, charges[1].ID) || !slices.Contains(inTable, charges[2].ID) ||
		slices.Contains(inTable, charges[0].ID) {
		t.Errorf("the index holds %v, the table %v: want %s and %s (from rebate, the second reversed), not %s (from principal)",
			inIndex, inTable, charges[1].ID, charges[2].ID, charges[0].ID)
	}
	// A reversal's question reads it, whatever the arguments.
	if plan := testdb.GenericPlanWith(t, pool, []string{"enable_seqscan = off"}, prepaid.QPricedSince, "", 0, ""); !strings.Contains(plan, "money_movements_priced_since") {
		t.Errorf("a reversal's question does not read the index:\n%s", plan)
	}

	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("up to the latest: %v", err)
	}
	if _, err := e.Prepaid.ReverseMoney(ctx, prepaid.Charge, "", charges[0].ID, "test", "admin"); fault.CodeOf(err) != fault.RebateDrawnSince {
		t.Errorf("reversing %s before the later charge from rebate: %v, want %s", charges[0].ID, err, fault.RebateDrawnSince)
	}
	writeBusiness(t, e, "after")
	proveBooks(t, m, e, url)

	downKeepsRows(t, m, pool, 50, 48, "money_movements", indexesAt48)
}
