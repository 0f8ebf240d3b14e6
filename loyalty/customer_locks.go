package loyalty

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// LockCustomers locks the rows of the customers (ids in any order, repeats
// allowed) until tx ends, in id order (the bytes', as a partner event
// group's queueLock) and in one statement, so that
// transactions that each lock several customers this way never wait for
// each other in a cycle, and answers the ids it locked. A group of writes
// (money movements, redemptions) takes it first: its writes for those
// customers need not lock them again. An unknown customer is left out: a
// write of theirs finds out alone, with LockCustomer.
func LockCustomers(ctx context.Context, tx *ledger.Tx, ids []string) (map[string]bool, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// One index probe and lock per id, in the sorted array's order: the
	// lateral subquery runs once per element as unnest yields them (OFFSET
	// 0 keeps the planner from turning the lookups into a join).
	rows, err := tx.Query(ctx, `SELECT c.id FROM unnest($1::text[]) AS u (id)
CROSS JOIN LATERAL (SELECT id FROM customers WHERE id = u.id OFFSET 0 FOR UPDATE) c`, ids)
	if err != nil {
		return nil, err
	}
	locked := make(map[string]bool, len(ids))
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		locked[id] = true
		return nil
	})
	return locked, err
}
