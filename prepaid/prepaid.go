// Package prepaid records a customer's prepaid money: deposits with their
// proportional rebate, charges paid from principal then rebate,
// withdrawals with the rebate they claw back, and the reversal of each; and
// the reconciliation check that every deposit's rebate is what the rules
// that priced it say.
//
// It owns the money_movements and low_balance_thresholds tables and their
// SQL, and announces a balance under a partner's threshold (lowbalance.go). It locks the customer and
// reads the rule set in effect through loyalty, prices with the rules
// package, reads the customer's balances from the ledger and posts one
// entry per movement through it. Concurrent movements are written in
// groups (groups.go): one transaction for those that queued meanwhile,
// written together in a fixed number of statements (or, for a group with
// a retry in it, each movement in a savepoint of its own). It never names a table of
// loyalty, catalog or the ledger, and it never touches points.
package prepaid

import (
	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Kinds of money movement, which are also the kinds of their entries.
const (
	Deposit    = "deposit"
	Charge     = "charge"
	Withdrawal = "withdrawal"
)

// Service is prepaid money. It is safe for concurrent use.
type Service struct {
	ledger    *ledger.Ledger
	customers *loyalty.Service
	movements *coalesce.Coalescer[moneyJob, moneyResult] // written in groups
	stats     Stats
}

// New returns prepaid money on the ledger, for the customers of the
// loyalty programme (on the same ledger).
func New(l *ledger.Ledger, customers *loyalty.Service) *Service {
	s := &Service{ledger: l, customers: customers}
	s.movements = s.newMovementQueue()
	return s
}

// Owns reports whether entries of the kind are money movements, corrected
// through the movement's own reversal (which marks the movement reversed),
// never reversed by hand.
func Owns(kind string) bool { return kind == Deposit || kind == Charge || kind == Withdrawal }
