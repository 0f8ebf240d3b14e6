package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// ReferenceCheck reports the redemptions (which keep no foreign keys to
// customers, products and entries, for speed) that name a customer, a
// product or an entry that does not exist: at most 100 of them, as
// redemption:space:id. For ledger.Reconcile's extra checks.
func ReferenceCheck(ctx context.Context, tx *ledger.Tx) (ledger.Check, error) {
	check := ledger.Check{Name: "redemption_rows_intact",
		Description: "every redemption names an existing customer, product and entry"}
	rows, err := tx.Query(ctx, `SELECT 'redemption:' || r.space || ':' || r.id FROM redemptions r
WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = r.customer_id)
   OR NOT EXISTS (SELECT 1 FROM products p WHERE p.sku = r.sku)
LIMIT 100`)
	if err != nil {
		return check, err
	}
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return check, err
	}
	bad, err = tx.DanglingEntryRefs(ctx, bad, 100, `SELECT 'redemption:' || space || ':' || id, entry_id FROM redemptions WHERE entry_id IS NOT NULL`)
	if err != nil {
		return check, err
	}
	check.Pass, check.Offending = len(bad) == 0, append([]string{}, bad...)
	return check, nil
}
