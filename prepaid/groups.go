package prepaid

import (
	"context"
	"time"

	"github.com/tally-ledger/tally/internal/coalesce"
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

// moveGroup records a group of movements in one transaction
// (loyalty.WriteGroup), each as it would be recorded alone (moveTx), and
// answers each one's result, by index. A refusal (insufficient funds, a
// reused id) undoes only its own movement.
func (s *Service) moveGroup(group []moneyJob) ([]moneyResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	return loyalty.WriteGroup(ctx, s.ledger, group, func(j moneyJob) string { return j.in.CustomerID }, nil,
		func(tx *ledger.Tx, j moneyJob, locked bool) (moneyResult, error) { return s.moveTx(ctx, tx, j, locked) },
		func(err error) moneyResult { return moneyResult{err: err} })
}
