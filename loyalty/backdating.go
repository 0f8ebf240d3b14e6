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
	return periods.check(ctx, tx, occurredAt, "")
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
// read, once, where the closed periods end, taking the lock that holds a
// close back until this transaction commits (ledger.Tx.ClosedThrough).
type periodGuard struct {
	open    time.Time
	read    bool
	through time.Time // the latest closed month's end
	month   string    // and its name
}

// zoneSpread is the most two time zones' clocks differ by (UTC-12 to
// UTC+14).
const zoneSpread = 26 * time.Hour

// closeLag is how much later than this transaction's now a close may
// commit unseen by it: the time the transaction takes, and the clock of the
// server that closes, which may be ahead.
const closeLag = time.Hour

// newPeriodGuard is the guard for business recorded at now under rs, the
// rules in effect then. A month closes once it has ended, so the latest
// closed month ends at a month's start no later than now plus closeLag, in
// the time zone of the rules that closed it, which need not be rs's. That
// start lies before the start, in rs's zone, of the month that holds that
// instant plus the zones' spread, by at most the spread; and the end of a
// closed month in any zone an event's rules count months in lies no later.
func newPeriodGuard(rs *rules.RuleSet, now time.Time) periodGuard {
	latest := rs.MonthOf(now.Add(closeLag + zoneSpread))
	return periodGuard{open: latest.Start(rs.Location()).Add(zoneSpread)}
}

// check is fault.PeriodClosed when occurredAt falls in a closed period, or
// month (the month the event's rules count it in, "" for none) is closed;
// or the error that kept it from knowing.
func (g *periodGuard) check(ctx context.Context, tx *ledger.Tx, occurredAt time.Time, month rules.Month) error {
	if !occurredAt.Before(g.open) {
		return nil
	}
	if !g.read {
		through, closed, err := tx.ClosedThrough(ctx)
		if err != nil {
			return err
		}
		g.read, g.through, g.month = true, through, closed
	}
	switch {
	case occurredAt.Before(g.through):
		return ledger.ClosedBefore(g.through)
	case month != "" && g.month != "" && string(month) <= g.month:
		return fault.Errorf(fault.PeriodClosed, "the rules count this business in %s, which is closed: periods up to %s are", month, g.month)
	}
	return nil
}
