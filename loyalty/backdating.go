package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// CheckBackdating refuses business dated further back than the back-dating
// window allows (rules.RuleSet.BackdatingDays): occurredAt must not be
// before the instant tx records it (tx.Now()) less the window of the rule
// version in effect at that instant. The window is never the one of the
// version occurredAt falls in, so dating something into an older version
// cannot reach further back. Callers check it once they know the business
// is new, not a retry of what was recorded.
//
// Errors: fault.OccurredAtTooOld.
func (s *Service) CheckBackdating(ctx context.Context, tx *ledger.Tx, occurredAt time.Time) error {
	earliest, err := s.earliestOccurredAt(ctx, tx, tx.Now())
	if err != nil {
		return err
	}
	return tooOld("occurred_at", occurredAt, earliest)
}

// CheckEffectiveAt is CheckBackdating for a manual entry's effective_at,
// recorded at now outside the service's transactions.
//
// Errors: fault.OccurredAtTooOld.
func (s *Service) CheckEffectiveAt(ctx context.Context, now, effectiveAt time.Time) error {
	earliest, err := s.earliestOccurredAt(ctx, s.db, now)
	if err != nil {
		return err
	}
	return tooOld("effective_at", effectiveAt, earliest)
}

// earliestOccurredAt is the earliest instant that business recorded at now
// may be dated.
func (s *Service) earliestOccurredAt(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, now time.Time) (time.Time, error) {
	rs, err := s.rulesAt(ctx, q, now)
	if err != nil {
		return time.Time{}, err
	}
	return rs.EarliestOccurredAt(now), nil
}

// tooOld is fault.OccurredAtTooOld, naming the field, when at is before
// earliest.
func tooOld(field string, at, earliest time.Time) error {
	if !at.Before(earliest) {
		return nil
	}
	from := earliest.UTC().Format(time.RFC3339Nano)
	return &fault.Error{Code: fault.OccurredAtTooOld,
		Message: field + " " + at.UTC().Format(time.RFC3339Nano) + " is before the back-dating window, which starts at " + from,
		Fields:  map[string]string{field: "not before " + from}}
}
