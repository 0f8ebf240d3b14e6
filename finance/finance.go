// Package finance answers finance's questions of the books: the trial
// balance, the rebate and points roll-forwards, the customer pyramid
// (segments and the A/B/C split) of a month, and the reconciliation, which
// runs the ledger's invariants with the checks of the packages that keep
// rows beside the books (prepaid's rebate check, loyalty's event rows).
//
// It owns no table and writes nothing but the notice of a failed
// reconciliation (notify) and, through the ledger, which keeps them, the
// close or reopening of a month. It reads the books only through the
// ledger's reports (trial balance, movements, reconciliation) and the rows
// of loyalty and prepaid only through those packages; it never names a
// table. Nothing but api, cmd/tally and tests import it.
package finance

import (
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// Service is finance's view of the books. It is safe for concurrent use.
type Service struct {
	ledger    *ledger.Ledger
	customers *loyalty.Service
	money     *prepaid.Service
}

// New returns finance's reports on the ledger, the loyalty programme and
// prepaid money.
func New(l *ledger.Ledger, customers *loyalty.Service, money *prepaid.Service) *Service {
	return &Service{ledger: l, customers: customers, money: money}
}
