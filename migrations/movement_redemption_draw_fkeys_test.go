package migrations_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Migration 0051, applied to a database the services wrote to (shipments,
// refunds, redemptions and a cancellation, a deposit and a charge): every
// row is as it was; the money movements, redemptions and draws keep only
// the foreign keys of their rare paths (a reversal's, a cancellation's);
// products and points lots refuse DELETE; the services write as before and
// the books prove. Rolled back, the keys are 0050's and the rows intact.
func TestMovementRedemptionDrawForeignKeysDropped(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 50)
	atHead(t, m, 50, func() { writeBusiness(t, e, "before") })
	rowsAt50 := tableDigests(t, pool)
	keysAt50 := foreignKeysOf(t, pool)
	for _, k := range []string{"lot_draws_entry_id_fkey", "lot_draws_lot_id_fkey", "money_movements_customer_id_fkey",
		"money_movements_entry_id_fkey", "redemptions_customer_id_fkey", "redemptions_entry_id_fkey", "redemptions_sku_fkey"} {
		if !slices.Contains(keysAt50, k) {
			t.Fatalf("0050 has no %s: %v", k, keysAt50)
		}
	}

	if err := m.Migrate(51); err != nil {
		t.Fatal(err)
	}
	wantSameRows(t, "after 0051", rowsAt50, tableDigests(t, pool))
	want := []string{"money_movements_reversal_entry_id_fkey", "redemptions_cancel_entry_id_fkey"}
	var kept []string
	for _, k := range foreignKeysOf(t, pool) {
		if slices.Contains([]string{"lot_draws", "money_movements", "redemptions"}, tableOfKey(k)) {
			kept = append(kept, k)
		}
	}
	if !slices.Equal(kept, want) {
		t.Errorf("the keys left on the movements, redemptions and draws: %v, want %v", kept, want)
	}
	for _, q := range []string{`DELETE FROM products`, `DELETE FROM points_lots`, `TRUNCATE products CASCADE`, `TRUNCATE points_lots CASCADE`} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, q); return err })
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != pgerrcode.InsufficientPrivilege {
			t.Errorf("%s: %v, want it refused", q, err)
		}
	}
	atHead(t, m, 51, func() { writeBusiness(t, e, "after") })
	proveBooks(t, m, e, url)

	rowsAt51 := rowsAt(t, m, pool, 51)
	if err := m.Migrate(50); err != nil {
		t.Fatal(err)
	}
	wantSameRows(t, "after 0051 down", rowsAt51, tableDigests(t, pool))
	if got := foreignKeysOf(t, pool); !slices.Equal(got, keysAt50) {
		t.Errorf("foreign keys after 0051 down: %v, want 0050's %v", got, keysAt50)
	}
}

// foreignKeysOf lists the schema's foreign keys by name.
func foreignKeysOf(t *testing.T, pool interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY conname`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// tableOfKey is the table a key of the form table_column_fkey belongs to,
// for the three tables 0051 changes.
func tableOfKey(k string) string {
	for _, table := range []string{"lot_draws", "money_movements", "redemptions"} {
		if strings.HasPrefix(k, table+"_") {
			return table
		}
	}
	return ""
}
