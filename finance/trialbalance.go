package finance

import (
	"context"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// TrialBalance emits every account with its balance as of asOf (entries
// effective at or before it), on its side, in code order, and returns the
// totals per asset: the ledger's own report.
func (s *Service) TrialBalance(ctx context.Context, asOf time.Time, emit func(ledger.TrialRow) error) ([]ledger.AssetTotal, error) {
	return s.ledger.TrialBalance(ctx, asOf, emit)
}
