package loyalty

import (
	"context"
	"slices"

	"github.com/tally-ledger/tally/ledger"
)

// LockCustomers locks the rows of the customers (ids in any order, repeats
// allowed) until tx ends, in id order and in one statement, so that
// transactions that each lock several customers this way never wait for
// each other in a cycle. A group of writes (money movements, redemptions)
// takes it first; each write in it then takes LockCustomer as it would
// alone, which finds the lock held. An unknown customer is skipped: the
// write of theirs finds out alone, with LockCustomer.
func LockCustomers(ctx context.Context, tx *ledger.Tx, ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// One index probe and lock per id, in the sorted array's order: the
	// lateral subquery runs once per element as unnest yields them (OFFSET
	// 0 keeps the planner from turning the lookups into a join).
	_, err := tx.Exec(ctx, `SELECT c.id FROM unnest($1::text[]) AS u (id)
CROSS JOIN LATERAL (SELECT id FROM customers WHERE id = u.id OFFSET 0 FOR UPDATE) c`, ids)
	return err
}
