package prepaid

import (
	"context"
	"time"

	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// How movements are grouped: up to groupWriters transactions at once, each
// of at most groupMaxJobs movements. groupTimeout bounds a group's
// transaction, whatever its callers' contexts: one caller giving up must
// not abort its neighbours.
const (
	groupWriters = 4
	groupMaxJobs = 500
	groupTimeout = 60 * time.Second
)

// newMovementQueue is the group commit of money movements: the movements
// of one customer go to one writer, in the order they were made.
func (s *Service) newMovementQueue() *coalesce.Coalescer[moneyJob, moneyResult] {
	return coalesce.New(coalesce.Config[moneyJob, moneyResult]{
		Writers: groupWriters, MaxGroup: groupMaxJobs,
		Key: func(j moneyJob) string { return j.in.CustomerID },
		Run: s.moveGroup,
	})
}

// moveGroup records a group of movements in one transaction and answers
// each one's result, by index. It locks the group's customers first, in id
// order, so that groups never wait for each other in a cycle; then it
// records each movement, in order, as it would be recorded alone (moveTx),
// in a savepoint: a refusal (insufficient funds, a reused id) undoes only
// what that movement did, and the movements after it see the balances
// without it, as they would have one request later. A deadlock, a lost
// database or the group's deadline fails the whole attempt: the
// transaction is retried (ledger.InTx) or its error is every movement's.
func (s *Service) moveGroup(group []moneyJob) ([]moneyResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	outs := make([]moneyResult, len(group))
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		clear(outs)
		ids := make([]string, len(group))
		for i, j := range group {
			ids[i] = j.in.CustomerID
		}
		locked, err := loyalty.LockCustomers(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i, j := range group {
			var r moneyResult
			err := tx.Savepoint(ctx, func(tx *ledger.Tx) (err error) {
				r, err = s.moveTx(ctx, tx, j, locked[j.in.CustomerID])
				return err
			})
			if err != nil && (fault.Transient(err) || fault.DatabaseLost(err) || ctx.Err() != nil) {
				return err
			}
			if err != nil {
				r = moneyResult{err: err}
			}
			outs[i] = r
		}
		return nil
	})
	return outs, err
}
