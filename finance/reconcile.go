package finance

import (
	"context"

	"github.com/tally-ledger/tally/ledger"
)

// Reconcile checks every invariant in one snapshot: the ledger's (entries
// balance, balances match postings, points match lots, no customer below
// zero, ...), every deposit's rebate against the rules that priced it
// (rebates_match_rules), the event rows against what they name
// (event_rows_intact), and the points owed by refunds against the books
// (owed_within_due; owed_not_negative is the ledger's).
func (s *Service) Reconcile(ctx context.Context) (ledger.Reconciliation, error) {
	return s.ledger.Reconcile(ctx, s.money.RebateCheck, s.customers.ReferenceCheck, s.customers.OwedCheck)
}
