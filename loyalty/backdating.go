package loyalty

import (
	"context"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// CheckBackdating refuses business dated further back than the back-dating
// window allows (rules.RuleSet.BackdatingDays): occurred_at must not be
// before the instant tx records it (tx.Now()) less the window of the rule
// version in effect at that instant. The window is never the one of the
// version occurred_at falls in, so dating something into an older version
// cannot reach further back. Callers check it once they know the business
// is new, not a retry of what was recorded.
//
// Errors: fault.OccurredAtTooOld.
func (s *Service) CheckBackdating(ctx context.Context, tx *ledger.Tx, occurredAt time.Time) error {
	earliest, err := s.earliestOccurredAt(ctx, tx)
	if err != nil {
		return err
	}
	return tooOld(occurredAt, earliest)
}

// earliestOccurredAt is the earliest occurred_at that business recorded in
// tx may carry.
func (s *Service) earliestOccurredAt(ctx context.Context, tx *ledger.Tx) (time.Time, error) {
	now := tx.Now()
	rs, err := s.rulesAt(ctx, tx, now)
	if err != nil {
		return time.Time{}, err
	}
	return rs.EarliestOccurredAt(now), nil
}

// tooOld is fault.OccurredAtTooOld when occurredAt is before earliest.
func tooOld(occurredAt, earliest time.Time) error {
	if !occurredAt.Before(earliest) {
		return nil
	}
	msg := "occurred_at " + occurredAt.UTC().Format(time.RFC3339Nano) + " is before the back-dating window, which starts at " +
		earliest.UTC().Format(time.RFC3339Nano)
	return &fault.Error{Code: fault.OccurredAtTooOld, Message: msg,
		Fields: map[string]string{"occurred_at": "not before " + earliest.UTC().Format(time.RFC3339Nano)}}
}
