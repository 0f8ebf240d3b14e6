package finance

import (
	"context"
	"strings"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// PeriodStatus is a month as finance sees it: closed or not, the closed
// figures' digest and whether the books still render it, and the history
// of its closes and reopenings.
type PeriodStatus struct {
	Month    rules.Month    `json:"month"`
	StartsAt time.Time      `json:"starts_at"`
	EndsAt   time.Time      `json:"ends_at"`
	Closed   bool           `json:"closed"`
	Period   *ledger.Period `json:"period"`
	// Unchanged is true when the month is closed and its figures, rendered
	// again now, have the digest it was closed with.
	Unchanged *bool                `json:"unchanged"`
	History   []ledger.PeriodEvent `json:"history"`
}

// MonthBounds is the month's first instant and the next month's, in the
// zone of the rule set in effect at the next month's first instant in UTC
// (Asia/Shanghai by default), as a close cuts the month. (The segment
// report's month takes the rule set in effect at the month's last instant
// in its own zone: the two differ only for a rule set changing zone within
// hours of a month's end.)
func (s *Service) MonthBounds(ctx context.Context, month rules.Month) (time.Time, time.Time, error) {
	if !month.Valid() {
		return time.Time{}, time.Time{}, fault.InvalidField("month", "YYYY-MM, from 1971-01 to 2998-12")
	}
	rs, err := s.customers.RulesAt(ctx, month.Start(time.UTC).AddDate(0, 1, 0))
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	starts := month.Start(rs.Location())
	return starts, starts.AddDate(0, 1, 0), nil
}

// ClosePeriod closes the month once reconciliation passes: from then on no
// entry may be effective in it or before it, and its figures keep the
// digest returned.
//
// Errors: fault.Invalid (not a month), fault.ReconciliationFailed (a check
// fails; the message names them), and ledger.ClosePeriod's.
func (s *Service) ClosePeriod(ctx context.Context, month rules.Month, actor string) (ledger.Period, error) {
	starts, ends, err := s.MonthBounds(ctx, month)
	if err != nil {
		return ledger.Period{}, err
	}
	// A month that cannot close (closed already, out of order, not ended)
	// is refused before the reconciliation, which reads the whole books:
	// a refusal costs one probe, not seconds of the database per request.
	if err := s.ledger.CheckClosable(ctx, string(month), starts, ends); err != nil {
		return ledger.Period{}, err
	}
	r, err := s.Reconcile(ctx)
	if err != nil {
		return ledger.Period{}, err
	}
	if !r.Pass {
		var failing []string
		for _, c := range r.Checks {
			if !c.Pass {
				failing = append(failing, c.Name)
			}
		}
		return ledger.Period{}, fault.Errorf(fault.ReconciliationFailed, "%s cannot close while reconciliation fails: %s",
			month, strings.Join(failing, ", "))
	}
	return s.ledger.ClosePeriod(ctx, string(month), starts, ends, actor)
}

// ReopenPeriod reopens the latest closed month, for a reason that is
// recorded with who reopened it and when. The month may be of any year:
// one closed before months were bounded (0000-01, say, which held every
// later close back) must still reopen.
//
// Errors: fault.Invalid (not written YYYY-MM, or no reason), and
// ledger.ReopenPeriod's.
func (s *Service) ReopenPeriod(ctx context.Context, month rules.Month, actor, reason string) (ledger.PeriodEvent, error) {
	if _, err := time.Parse("2006-01", string(month)); err != nil || len(month) != 7 {
		return ledger.PeriodEvent{}, fault.InvalidField("month", "YYYY-MM")
	}
	return s.ledger.ReopenPeriod(ctx, string(month), actor, reason)
}

// Period is the month's status; a closed month's figures are rendered
// again to say whether they are unchanged.
//
// Errors: fault.Invalid (not a month).
func (s *Service) Period(ctx context.Context, month rules.Month) (PeriodStatus, error) {
	starts, ends, err := s.MonthBounds(ctx, month)
	if err != nil {
		return PeriodStatus{}, err
	}
	p, history, err := s.ledger.ClosedPeriod(ctx, string(month))
	if err != nil {
		return PeriodStatus{}, err
	}
	st := PeriodStatus{Month: month, StartsAt: starts, EndsAt: ends, Closed: p != nil, Period: p, History: history}
	if st.History == nil {
		st.History = []ledger.PeriodEvent{}
	}
	if p != nil {
		now, err := s.ledger.PeriodDigest(ctx, p.Month, p.StartsAt, p.EndsAt)
		if err != nil {
			return st, err
		}
		same := now == p.Digest
		st.Unchanged = &same
	}
	return st, nil
}

// ClosedPeriod is the closed month exactly [from, to), for the reports of
// that period to repeat its digest; nil when that is not a closed month.
func (s *Service) ClosedPeriod(ctx context.Context, from, to time.Time) (*ledger.Period, error) {
	p, err := s.ledger.ClosedAt(ctx, from)
	if err != nil || p == nil || !p.StartsAt.Equal(from) || !p.EndsAt.Equal(to) {
		return nil, err
	}
	return p, nil
}

// ClosedPeriodAt is the closed month the instant falls in, or nil: the
// trial balance as of an instant of it repeats its digest.
func (s *Service) ClosedPeriodAt(ctx context.Context, at time.Time) (*ledger.Period, error) {
	return s.ledger.ClosedAt(ctx, at)
}
