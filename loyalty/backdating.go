package loyalty

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
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

// checkDating is CheckBackdating for an event, which also may not be dated
// in a closed period (periodGuard).
//
// Errors: fault.OccurredAtTooOld, fault.PeriodClosed.
func (s *Service) checkDating(ctx context.Context, tx *ledger.Tx, occurredAt time.Time) error {
	now := tx.Now()
	rs, err := s.rulesAt(ctx, tx, now)
	if err != nil {
		return err
	}
	if err := tooOld("occurred_at", occurredAt, rs.EarliestOccurredAt(now)); err != nil {
		return err
	}
	periods := newPeriodGuard(&rs, now)
	return periods.check(ctx, tx, occurredAt)
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

// periodGuard refuses events dated in a closed period. The ledger refuses
// an entry effective there, but an event worth no points posts no entry and
// still writes its rows (its month's contribution among them, which sets
// tiers), so events are checked before they are priced. Events dated from
// open on cannot fall in a closed period: only older ones make the guard
// read, once, where the closed periods end, taking the lock that holds a close back until its
// transaction commits (ledger.Tx.ClosedThrough).
type periodGuard struct {
	open    time.Time
	through *time.Time
}

// newPeriodGuard is the guard for business recorded at now under rs, the
// rules in effect then. A month closes once it has ended, so the latest
// closed month ends at the latest a month's start before now, in the time
// zone of the rules that closed it, which need not be rs's (zones lie
// within 26 hours of each other): open is two days after the start of
// now's month in rs's zone.
func newPeriodGuard(rs *rules.RuleSet, now time.Time) periodGuard {
	return periodGuard{open: rs.MonthOf(now).Start(rs.Location()).Add(48 * time.Hour)}
}

// check is fault.PeriodClosed when occurredAt falls in a closed period, or
// the error that kept it from knowing.
func (g *periodGuard) check(ctx context.Context, tx *ledger.Tx, occurredAt time.Time) error {
	if !occurredAt.Before(g.open) {
		return nil
	}
	if g.through == nil {
		through, err := tx.ClosedThrough(ctx)
		if err != nil {
			return err
		}
		g.through = &through
	}
	if occurredAt.Before(*g.through) {
		return ledger.ClosedBefore(*g.through)
	}
	return nil
}
