package loyalty

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// LockCustomers locks the rows of the customers (ids in any order, repeats
// allowed) until tx ends, in id order (the bytes', as a partner event
// group's queueLock) and in one statement, so that
// transactions that each lock several customers this way never wait for
// each other in a cycle, and answers the ids it locked. A group of writes
// (money movements, redemptions) takes it first: its writes for those
// customers need not lock them again. An unknown customer is left out: a
// write of theirs finds out alone, with LockCustomer.
//
// In the same round trip, it sets the rest of the transaction to run on
// generic plans (see WriteGroup).
func LockCustomers(ctx context.Context, tx *ledger.Tx, ids []string) (map[string]bool, error) {
	var b pgx.Batch
	locked := QueueLockCustomers(&b, ids)
	return locked, tx.SendBatch(ctx, &b).Close()
}

// QueueLockCustomers queues LockCustomers' statements into b, for a caller
// that reads, in the same round trip, what it needs once they are locked:
// the map it answers holds the ids locked once b's results are read.
func QueueLockCustomers(b *pgx.Batch, ids []string) map[string]bool {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	locked := make(map[string]bool, len(ids))
	b.Queue(ledger.QGenericPlans)
	b.Queue(QLockCustomers, ids).Query(func(rows pgx.Rows) error {
		var id string
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			locked[id] = true
			return nil
		})
		return err
	})
	queueNoticesFollow(b, ids, false)
	return locked
}

// queueNoticesFollow queues, after a statement locking several customers
// (ids; with their referrers when referrers), the check that refuses the
// transaction (fault.NoticesOutOfOrder, which its caller retries) when a
// notification of one of them committed with a later transaction id than
// its own (notices_follow, migration 0052): the transaction got its id at
// its first lock, and another may have written one of the later customers
// while it waited. The feed and the webhooks give each customer's
// notifications in the order of their transactions' ids, which this keeps
// the order they committed in.
func queueNoticesFollow(b *pgx.Batch, ids []string, referrers bool) {
	b.Queue(`SELECT notices_follow($1, $2)`, ids, referrers)
}

// QLockCustomers locks the customers $1 names, in its order: one index
// probe and lock per id, in the sorted array's order (the lateral subquery
// runs once per element as unnest yields them; OFFSET 0 keeps the planner
// from turning the lookups into a join).
const QLockCustomers = `SELECT c.id FROM unnest($1::text[]) AS u (id)
CROSS JOIN LATERAL (SELECT id FROM customers WHERE id = u.id OFFSET 0 FOR NO KEY UPDATE) c`

// WriteGroup writes a group of jobs, each of one customer, in one
// transaction of l, and answers each one's result, by index: it locks the
// group's customers (LockCustomers), then runs lock for what else the
// group needs locked or opened before any job runs (nil: nothing; it is
// told which customers are known: locked), then each job, in order, with write,
// in a savepoint, as it would be written alone. A job's error (a refusal:
// too little money or stock, a reused id) undoes only what that job did
// and becomes its result, made by refused; the jobs after it see the books
// without it, as they would have one request later. A deadlock, a lost
// database or ctx's end fails the whole attempt: the transaction is
// retried (ledger.InTx) or its error is every job's.
//
// The group runs on generic plans, planned once per connection, not per
// statement: a group of small writes otherwise spent a third of its time
// in PostgreSQL planning (the statements over unnest'ed arrays are planned
// anew each time, their generic plans guessing 100 elements). Every
// statement a group runs looks its rows up by key, through LATERAL
// subqueries where it reads arrays (group_plans_test.go checks the plans).
func WriteGroup[J, R any](ctx context.Context, l *ledger.Ledger, group []J, customer func(J) string,
	lock func(tx *ledger.Tx, locked map[string]bool) error, write func(tx *ledger.Tx, j J, locked bool) (R, error), refused func(error) R) ([]R, error) {
	outs := make([]R, len(group))
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		clear(outs)
		ids := make([]string, len(group))
		for i, j := range group {
			ids[i] = customer(j)
		}
		locked, err := LockCustomers(ctx, tx, ids)
		if err != nil {
			return err
		}
		tx.Restamp() // the customers' points spent are what they hold now (ledger.Tx.Restamp)
		if lock != nil {
			if err := lock(tx, locked); err != nil {
				return err
			}
		}
		for i, j := range group {
			var r R
			err := tx.Savepoint(ctx, func(tx *ledger.Tx) (err error) {
				r, err = write(tx, j, locked[ids[i]])
				return err
			})
			if err != nil && (fault.Transient(err) || fault.DatabaseLost(err) || ctx.Err() != nil) {
				return err
			}
			if err != nil {
				r = refused(err)
			}
			outs[i] = r
		}
		return nil
	})
	return outs, err
}

// TiersAt is TierAt for each of the customers (ids in any order, repeats
// allowed), read in tx in one statement, by customer id.
func (s *Service) TiersAt(ctx context.Context, tx *ledger.Tx, ids []string, t time.Time) (map[string]rules.Tier, error) {
	var b pgx.Batch
	tiers, err := s.QueueTiersAt(ctx, tx, &b, ids, t)
	if err != nil {
		return nil, err
	}
	return tiers, tx.SendBatch(ctx, &b).Close()
}

// QueueTiersAt queues TiersAt's read into b, for a caller that reads them
// in a round trip it makes anyway: the map it answers holds the tiers once
// b's results are read. The rule set in effect at t is looked up first
// (in tx, when it is not cached).
func (s *Service) QueueTiersAt(ctx context.Context, tx *ledger.Tx, b *pgx.Batch, ids []string, t time.Time) (map[string]rules.Tier, error) {
	rs, err := s.rulesAt(ctx, tx, t)
	if err != nil {
		return nil, err
	}
	this := rs.MonthOf(t)
	tiers := make(map[string]rules.Tier, len(ids))
	b.Queue(`SELECT u.id, coalesce(m.last, 0), coalesce(m.this, 0) FROM unnest($1::text[]) AS u (id)
CROSS JOIN LATERAL (SELECT sum(contribution) FILTER (WHERE month = $2) AS last, sum(contribution) FILTER (WHERE month = $3) AS this
    FROM customer_months WHERE customer_id = u.id AND month IN ($2, $3) OFFSET 0) m`, ids, string(this.Prev()), string(this)).
		Query(func(rows pgx.Rows) error {
			var (
				id        string
				last, cur decimal.Decimal
			)
			_, err := pgx.ForEachRow(rows, []any{&id, &last, &cur}, func() error {
				tiers[id], _ = rs.TierInEffect(last, cur)
				return nil
			})
			return err
		})
	return tiers, nil
}

// Owing reports which of the customers owe points (an open row of
// points_owed: SettleOwed would settle it), read in tx in one statement.
func Owing(ctx context.Context, tx *ledger.Tx, ids []string) (map[string]bool, error) {
	var b pgx.Batch
	owing := QueueOwing(&b, ids)
	return owing, tx.SendBatch(ctx, &b).Close()
}

// QueueOwing queues Owing's read into b: the map it answers holds the
// customers who owe once b's results are read.
func QueueOwing(b *pgx.Batch, ids []string) map[string]bool {
	owing := map[string]bool{}
	b.Queue(`SELECT u.id FROM unnest($1::text[]) AS u (id)
WHERE EXISTS (SELECT FROM points_owed o WHERE o.customer_id = u.id AND o.settled < o.owed)`, ids).Query(func(rows pgx.Rows) error {
		var id string
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			owing[id] = true
			return nil
		})
		return err
	})
	return owing
}

// WriteTogether writes a group of jobs, each of one customer, in one
// transaction of l with together, once their customers are locked
// (LockCustomers: locked says which exist), and answers each job's result,
// by index. reads, when not nil, queues what together needs to read into
// the round trip that locks the customers: it runs once they are locked,
// and its results are read before together runs. When reads or together
// declines the group or fails (with anything but a deadlock or
// serialization failure, which retry it, a lost database or ctx's end),
// the group is written again with each (WriteGroup, job by job) and
// fallbacks counts it.
func WriteTogether[J, R any](ctx context.Context, l *ledger.Ledger, group []J, customer func(J) string, fallbacks *atomic.Int64,
	reads func(tx *ledger.Tx, b *pgx.Batch) error, together func(tx *ledger.Tx, locked map[string]bool) ([]R, error),
	each func() ([]R, error)) ([]R, error) {
	ids := make([]string, len(group))
	for i, j := range group {
		ids[i] = customer(j)
	}
	var outs []R
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		var b pgx.Batch
		locked := QueueLockCustomers(&b, ids)
		if reads != nil {
			if err := reads(tx, &b); err != nil {
				return err
			}
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		tx.Restamp() // the customers' points spent are what they hold now (ledger.Tx.Restamp)
		var err error
		outs, err = together(tx, locked)
		return err
	})
	if err == nil || fault.Transient(err) || fault.DatabaseLost(err) || ctx.Err() != nil {
		return outs, err
	}
	fallbacks.Add(1)
	return each()
}
