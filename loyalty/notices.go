package loyalty

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// The notices of the programme that no request causes: points about to
// expire, the tier downgrades of a month turn, referral bonuses whose
// pending window has ended. A job (Notices) finds what is due as of an
// instant and writes each notice with notify.Emit in the transaction that
// read what it announces. Each is once only (its once_key), so the job may
// run as often as wanted, twice at once, or again after an interruption.

// NoticeChunk is how many notices of one kind one transaction writes.
const NoticeChunk = 500

// The jobs' marks (notice_marks.job).
const (
	markExpiring   = "points.expiring"
	markDowngrades = "customer.tier_changed.down"
)

// NoticeReport is what a notice run wrote: the notices of each type it
// wrote (those written before, by an earlier or a concurrent run, are not
// counted again).
type NoticeReport struct {
	AsOf                     time.Time `json:"as_of"`
	PointsExpiring           int       `json:"points_expiring"`
	TierDowngrades           int       `json:"tier_downgrades"`
	ReferralBonusesAvailable int       `json:"referral_bonuses_available"`
}

// PointsExpiringNotice is the payload of points.expiring.
type PointsExpiringNotice struct {
	Points    int64     `json:"points,string"`
	ExpiresAt time.Time `json:"expires_at"`
	DaysAhead int       `json:"days_ahead"`
}

// ReferralBonusNotice is the payload of referral.bonus_available.
type ReferralBonusNotice struct {
	Points             int64     `json:"points,string"`
	ReferredCustomerID string    `json:"referred_customer_id"`
	EntryID            int64     `json:"entry_id"`
	AvailableAt        time.Time `json:"available_at"`
}

// Notices writes every notice due as of asOf that no run wrote yet:
// points.expiring for the lots expiring within a lead time of the rule
// set in effect at asOf, the downgrades of the turn into asOf's month, and
// referral.bonus_available for every paid bonus available by asOf. Each
// batch of notices commits on its own: an interrupted run leaves whole
// batches written, and a run again writes the rest.
//
// Errors: fault.AsOfInFuture (asOf later than now plus the clock skew
// events may have; nothing is written).
func (s *Service) Notices(ctx context.Context, asOf time.Time) (NoticeReport, error) {
	rep := NoticeReport{AsOf: asOf}
	if err := s.checkAsOf(asOf); err != nil {
		return rep, err
	}
	var err error
	if rep.PointsExpiring, err = s.expiringNotices(ctx, asOf); err != nil {
		return rep, err
	}
	if rep.TierDowngrades, err = s.downgradeNotices(ctx, asOf); err != nil {
		return rep, err
	}
	rep.ReferralBonusesAvailable, err = s.referralNotices(ctx, asOf)
	return rep, err
}

// ExpiringOnceKey is the once_key of the points.expiring notice of a
// customer's points expiring at expiresAt, daysAhead days ahead.
func ExpiringOnceKey(customerID string, expiresAt time.Time, daysAhead int) string {
	return notify.PointsExpiring + ":" + customerID + ":" + expiresAt.UTC().Format(time.RFC3339) + ":" + strconv.Itoa(daysAhead)
}

// expiringNotices announces each customer's points by expiry instant, once
// per lead time d of the rules (ExpiryNoticeDays): the notice of d is due
// from d days before the instant. Of the lead times due, only the shortest
// is announced (a run that first sees points 5 days before they expire
// says 7, not 30 then 7). A run announces what fell due after the mark of
// the runs before (all that is due, on a first run), of the points that
// expire after now, then moves the mark to asOf.
func (s *Service) expiringNotices(ctx context.Context, asOf time.Time) (int, error) {
	rs, err := s.RulesAt(ctx, asOf)
	if err != nil {
		return 0, err
	}
	since, err := s.noticeMark(ctx, markExpiring)
	if err != nil || !since.Before(asOf) {
		return 0, err
	}
	days := slices.Clone(rs.ExpiryNoticeDays)
	slices.Sort(days) // shortest first
	written := 0
	if len(days) > 0 {
		lead := func(d int) time.Duration { return time.Duration(d) * 24 * time.Hour }
		// Points expiring at or before since+shortest had every notice
		// due by asOf written by the runs before.
		after := asOf
		if !since.IsZero() && since.Add(lead(days[0])).After(after) {
			after = since.Add(lead(days[0]))
		}
		// Points whose expiry has passed are not expiring, whatever asOf.
		if now := s.now(); now.After(after) {
			after = now
		}
		by := asOf.Add(lead(days[len(days)-1]))
		var from ledger.AccountExpiry
		for {
			var page []ledger.AccountExpiry
			var n int
			err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
				var err error
				if page, err = tx.ExpiringPoints(ctx, after, by, from, NoticeChunk); err != nil {
					return err
				}
				events := make([]notify.Event, 0, len(page))
				for _, g := range page {
					i := slices.IndexFunc(days, func(d int) bool { return !g.ExpiresAt.After(asOf.Add(lead(d))) })
					if i < 0 || !since.IsZero() && !g.ExpiresAt.Add(-lead(days[i])).After(since) {
						continue // announced by a run before
					}
					events = append(events, notify.Event{Type: notify.PointsExpiring, Customer: g.CustomerID,
						OccurredAt: g.ExpiresAt.Add(-lead(days[i])),
						Payload:    PointsExpiringNotice{Points: g.Points, ExpiresAt: g.ExpiresAt.UTC(), DaysAhead: days[i]},
						OnceKey:    ExpiringOnceKey(g.CustomerID, g.ExpiresAt, days[i])})
				}
				if err := lockNoticed(ctx, tx, events); err != nil {
					return err
				}
				n, err = notify.Emit(ctx, tx, events...)
				return err
			})
			if err != nil {
				return written, err
			}
			written += n
			if len(page) < NoticeChunk {
				break
			}
			from = page[len(page)-1]
		}
	}
	return written, s.setNoticeMark(ctx, markExpiring, asOf)
}

// downgradeNotices announces the downgrades of the turn into asOf's month
// M (in the time zone of the rules in effect at asOf): a customer whose
// tier in effect at the end of the month before (the higher of its own
// tier and the tier of the month before it) is above the tier of its total
// (the tier in effect when M begins, before any of M's contribution) goes
// down at M's first instant. Once per customer and month; a run for a
// month already announced reads nothing.
func (s *Service) downgradeNotices(ctx context.Context, asOf time.Time) (int, error) {
	rsNow, err := s.RulesAt(ctx, asOf)
	if err != nil {
		return 0, err
	}
	month := rsNow.MonthOf(asOf)
	start := month.Start(rsNow.Location())
	done, err := s.noticeMark(ctx, markDowngrades)
	if err != nil || !done.Before(start) {
		return 0, err
	}
	// The tier at the end of the month before by the rules then, the tier
	// at the turn by the rules from then on.
	rsBefore, err := s.RulesAt(ctx, start.Add(-time.Microsecond))
	if err != nil {
		return 0, err
	}
	rsAt, err := s.RulesAt(ctx, start)
	if err != nil {
		return 0, err
	}
	last := month.Prev()
	written, after := 0, ""
	for {
		var read []string
		var n int
		err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
			// Only a customer with a contribution two months back can have
			// had a tier above their last month's.
			rows, err := tx.Query(ctx, `SELECT b.customer_id, b.contribution, coalesce(l.contribution, 0)
FROM customer_months b
LEFT JOIN customer_months l ON l.customer_id = b.customer_id AND l.month = $2
WHERE b.month = $1 AND b.customer_id > $3
ORDER BY b.customer_id LIMIT $4`, string(last.Prev()), string(last), after, NoticeChunk)
			if err != nil {
				return err
			}
			read = read[:0]
			var events []notify.Event
			var id string
			var before, lastTotal decimal.Decimal
			_, err = pgx.ForEachRow(rows, []any{&id, &before, &lastTotal}, func() error {
				read = append(read, id)
				from, _ := rsBefore.TierInEffect(before, lastTotal)
				to, _ := rsAt.TierInEffect(lastTotal, decimal.Zero)
				if to.Level < from.Level {
					events = append(events, notify.Event{Type: notify.TierChanged, Customer: id, OccurredAt: start,
						Payload: TierChange{From: from, To: to, Direction: "down", Month: month},
						OnceKey: notify.TierChanged + ":down:" + id + ":" + string(month)})
				}
				return nil
			})
			if err != nil {
				return err
			}
			if err := lockNoticed(ctx, tx, events); err != nil {
				return err
			}
			n, err = notify.Emit(ctx, tx, events...)
			return err
		})
		if err != nil {
			return written, err
		}
		written += n
		if len(read) < NoticeChunk {
			break
		}
		after = read[len(read)-1]
	}
	return written, s.setNoticeMark(ctx, markDowngrades, start)
}

// referralNotices announces each paid referral bonus whose pending window
// has ended by asOf (referral.bonus_available, to the referrer), marking it
// announced in the same transaction. A bonus being cancelled meanwhile (a
// full refund inside the window, whose transaction holds its row) is left
// for a later run, which finds it cancelled or still to announce.
func (s *Service) referralNotices(ctx context.Context, asOf time.Time) (int, error) {
	written := 0
	for {
		var n, read int
		err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
			// The referrers first, as every writer takes customers before
			// what else it locks (a refund's group takes them before the
			// bonus it cancels), then the bonuses still due of those read.
			rows, err := tx.Query(ctx, `SELECT referee_id, referrer_id FROM referral_bonuses
WHERE status = 'paid' AND announced_at IS NULL AND available_at <= $1
ORDER BY available_at, referee_id LIMIT $2`, asOf, NoticeChunk)
			if err != nil {
				return err
			}
			var referees, referrers []string
			var referee, referrer string
			if _, err := pgx.ForEachRow(rows, []any{&referee, &referrer}, func() error {
				referees, referrers = append(referees, referee), append(referrers, referrer)
				return nil
			}); err != nil {
				return err
			}
			if _, err := LockCustomers(ctx, tx, referrers); err != nil {
				return err
			}
			rows, err = tx.Query(ctx, `WITH due AS (
    SELECT referee_id FROM referral_bonuses
    WHERE referee_id = ANY ($4) AND status = 'paid' AND announced_at IS NULL AND available_at <= $1
    ORDER BY available_at, referee_id LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE referral_bonuses b SET announced_at = $3 FROM due WHERE b.referee_id = due.referee_id
RETURNING b.referee_id, b.referrer_id, b.points, b.available_at, b.entry_id`, asOf, NoticeChunk, tx.Now(), referees)
			if err != nil {
				return err
			}
			var events []notify.Event
			var points, entryID int64
			var available time.Time
			read = 0 // announced: a chunk cut short by a bonus being cancelled ends the run, and a later one reads on
			_, err = pgx.ForEachRow(rows, []any{&referee, &referrer, &points, &available, &entryID}, func() error {
				read++
				events = append(events, notify.Event{Type: notify.ReferralBonusAvailable, Customer: referrer, OccurredAt: available,
					Payload: ReferralBonusNotice{Points: points, ReferredCustomerID: referee, EntryID: entryID, AvailableAt: available.UTC()},
					OnceKey: notify.ReferralBonusAvailable + ":" + referee})
				return nil
			})
			if err != nil {
				return err
			}
			n, err = notify.Emit(ctx, tx, events...)
			return err
		})
		if err != nil {
			return written, err
		}
		written += n
		if read < NoticeChunk {
			return written, nil
		}
	}
}

// lockNoticed locks the customers events are about to be announced to
// (LockCustomers), so that the notices follow, in the feed's order, what
// committed for those customers while the job read, and come before what
// their writers commit next.
func lockNoticed(ctx context.Context, tx *ledger.Tx, events []notify.Event) error {
	ids := make([]string, 0, len(events))
	for _, e := range events {
		if e.Customer != "" {
			ids = append(ids, e.Customer)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := LockCustomers(ctx, tx, ids)
	return err
}

// noticeMark is how far the job has announced: the zero time before its
// first run.
func (s *Service) noticeMark(ctx context.Context, job string) (time.Time, error) {
	var t time.Time
	err := s.db.QueryRow(ctx, `SELECT done_through FROM notice_marks WHERE job = $1`, job).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	return t, err
}

// setNoticeMark moves the job's mark on to t (never back).
func (s *Service) setNoticeMark(ctx context.Context, job string, t time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO notice_marks (job, done_through) VALUES ($1, $2)
ON CONFLICT (job) DO UPDATE SET done_through = greatest(notice_marks.done_through, EXCLUDED.done_through)`, job, t)
	return err
}
