package finance

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// The roll-forwards are composed from the ledger's movements report
// (ledger.Movements): each in one read-only snapshot, streamed row by row,
// so that their memory does not grow with the books.

// RebateRow is the rebate roll-forward of one customer (or of all, in the
// total): opening + granted - used by charges - clawed back + adjustments
// = closing. Deposits and the effective rate (granted / deposits) go with it.
type RebateRow struct {
	CustomerID    string
	Opening       decimal.Decimal
	Granted       decimal.Decimal
	Used          decimal.Decimal
	ClawedBack    decimal.Decimal
	Adjustments   decimal.Decimal
	Closing       decimal.Decimal
	Deposits      decimal.Decimal
	EffectiveRate decimal.Decimal
}

func (r *RebateRow) add(o RebateRow) {
	r.Opening, r.Granted, r.Used = r.Opening.Add(o.Opening), r.Granted.Add(o.Granted), r.Used.Add(o.Used)
	r.ClawedBack, r.Adjustments = r.ClawedBack.Add(o.ClawedBack), r.Adjustments.Add(o.Adjustments)
	r.Closing, r.Deposits = r.Closing.Add(o.Closing), r.Deposits.Add(o.Deposits)
}

func (r *RebateRow) rate() {
	if r.Deposits.IsPositive() {
		r.EffectiveRate = r.Granted.DivRound(r.Deposits, 4)
	}
}

// RebateReport emits the rebate roll-forward for [from, to) of every
// customer who has had a rebate or a deposit, in customer order, and returns
// the total, which is their sum.
func (s *Service) RebateReport(ctx context.Context, from, to time.Time, emit func(RebateRow) error) (RebateRow, error) {
	total, _, err := s.RebateReports(ctx, []time.Time{from, to}, emit)
	return total, err
}

// RebateTotal is the customer id of a rebate report's total: no customer's
// id can be it (a customer id has no '*'), so that a customer whose id is
// TOTAL is told from the total in a CSV file.
const RebateTotal = "*TOTAL*"

// RebateReports is RebateReport over [bounds[0], bounds[n-1]) and, read in
// the same snapshot and query (ledger.MovementsEach), the total of the
// report over each [bounds[i], bounds[i+1]) (a month of a chart), as
// RebateReport returns it for that part alone.
func (s *Service) RebateReports(ctx context.Context, bounds []time.Time, emit func(RebateRow) error) (RebateRow, []RebateRow, error) {
	whole := &rebateRollForward{total: RebateRow{CustomerID: RebateTotal}, emit: emit}
	each := make([]*rebateRollForward, max(len(bounds)-1, 0))
	for i := range each {
		each[i] = &rebateRollForward{total: RebateRow{CustomerID: RebateTotal}}
	}
	err := s.ledger.MovementsEach(ctx, ledger.MovementFilter{Prefix: "customer:", Suffixes: []string{":rebate", ":prepaid"}}, bounds,
		func(m ledger.PeriodMovements) error {
			for i, part := range m.Each {
				if part != nil {
					if err := each[i].add(*part); err != nil {
						return err
					}
				}
			}
			return whole.add(m.Whole)
		})
	totals := make([]RebateRow, len(each))
	for i, f := range each {
		var ferr error
		totals[i], ferr = f.finish(err)
		err = cmp.Or(err, ferr)
	}
	total, err := whole.finish(err)
	return total, totals, err
}

// rebateRollForward sums the rebate roll-forward of a period from the
// movements of its customers' accounts, handed to it in customer order.
type rebateRollForward struct {
	total RebateRow
	// A customer's prepaid and rebate accounts come one after the other
	// (ordered by customer): their row is emitted when the next customer's
	// accounts begin.
	row  *RebateRow
	emit func(RebateRow) error // nil: the total alone is wanted
}

func (f *rebateRollForward) flush() error {
	if f.row == nil {
		return nil
	}
	r := *f.row
	f.row = nil
	r.rate()
	f.total.add(r)
	if f.emit == nil {
		return nil
	}
	return f.emit(r)
}

func (f *rebateRollForward) add(m ledger.Movements) error {
	customer, _ := ledger.CustomerOf(m.Account)
	if f.row != nil && f.row.CustomerID != customer {
		if err := f.flush(); err != nil {
			return err
		}
	}
	if f.row == nil {
		f.row = &RebateRow{CustomerID: customer}
	}
	row := f.row
	if strings.HasSuffix(m.Account, ":prepaid") {
		row.Deposits = m.ByKind[prepaid.Deposit]
		return nil
	}
	row.Opening, row.Closing = m.Opening, m.Closing
	for kind, amount := range m.ByKind {
		switch kind {
		case prepaid.Deposit:
			row.Granted = amount
		case prepaid.Charge:
			row.Used = amount.Neg()
		case prepaid.Withdrawal:
			row.ClawedBack = amount.Neg()
		default:
			row.Adjustments = row.Adjustments.Add(amount)
		}
	}
	return nil
}

// finish emits the last customer's row, unless the report failed (err),
// and returns the total with err or the emit's.
func (f *rebateRollForward) finish(err error) (RebateRow, error) {
	if err == nil {
		err = f.flush()
	}
	f.total.rate()
	return f.total, err
}

// PointsReport is the points liability roll-forward for a period: opening +
// earned (by channel, net of all that refunds were due) - redeemed (net of
// cancellations) - expired (net of undone expiry runs, counted in the period
// of the undo, so a period holding only an undo expires a negative amount)
// + owed - settled = closing. Owed is what refunds were due and could not
// take back (the customers owe it: the liability did not fall by it);
// Settled is what customers' points then paid of what they owed.
type PointsReport struct {
	From, To time.Time
	Opening  int64
	Earned   map[string]int64 // volume, referral, feedback, campaign, adjustment
	Redeemed int64
	Expired  int64
	Owed     int64
	Settled  int64
	Closing  int64
}

// PointsChannels are the earning channels of the points report, in order.
var PointsChannels = []string{"volume", "referral", "feedback", "campaign", "adjustment"}

// EarnedTotal sums the channels.
func (p PointsReport) EarnedTotal() int64 {
	var n int64
	for _, v := range p.Earned {
		n += v
	}
	return n
}

// pointsAccounts selects, for the points report, the platform's points
// accounts and every customer's points_owed account (a suffix matches a
// platform code only as the whole code); the report reads the kinds of
// the points_owed accounts' movements only.
var pointsAccounts = ledger.MovementFilter{Suffixes: []string{"platform:points:redeemed", "platform:points:expired",
	"platform:points:earned:volume", "platform:points:earned:referral", "platform:points:earned:feedback",
	"platform:points:earned:campaign", "platform:points:earned:adjustment", ":points_owed"}, ByKind: []string{":points_owed"}}

// PointsRollForward computes the points report for [from, to). The
// liability is what customers hold: the opposite of the platform's points
// accounts and the customers' points_owed accounts, which sum with the
// customers' points to zero.
func (s *Service) PointsRollForward(ctx context.Context, from, to time.Time) (PointsReport, error) {
	rep, _, err := s.PointsRollForwards(ctx, []time.Time{from, to})
	return rep, err
}

// PointsRollForwards is PointsRollForward over [bounds[0], bounds[n-1])
// and, read in the same snapshot and query (ledger.MovementsEach), over
// each [bounds[i], bounds[i+1]) (a month of a chart).
func (s *Service) PointsRollForwards(ctx context.Context, bounds []time.Time) (PointsReport, []PointsReport, error) {
	var rep PointsReport
	each := make([]PointsReport, max(len(bounds)-1, 0))
	if len(bounds) > 0 {
		rep = newPointsReport(bounds[0], bounds[len(bounds)-1])
	}
	for i := range each {
		each[i] = newPointsReport(bounds[i], bounds[i+1])
	}
	err := s.ledger.MovementsEach(ctx, pointsAccounts, bounds, func(m ledger.PeriodMovements) error {
		for i, part := range m.Each {
			if part != nil {
				each[i].add(*part)
			}
		}
		rep.add(m.Whole)
		return nil
	})
	for i := range each {
		each[i].finish()
	}
	rep.finish()
	return rep, each, err
}

func newPointsReport(from, to time.Time) PointsReport {
	return PointsReport{From: from, To: to, Earned: map[string]int64{}}
}

// add counts an account's movements over the report's period.
func (rep *PointsReport) add(m ledger.Movements) {
	before, during := m.Opening.IntPart(), m.Closing.Sub(m.Opening).IntPart()
	rep.Opening -= before
	rep.Closing -= before + during
	if strings.HasSuffix(m.Account, ":points_owed") {
		for kind, amount := range m.ByKind {
			if kind == loyalty.KindSettlement {
				rep.Settled += amount.IntPart()
			} else {
				rep.Owed -= amount.IntPart()
			}
		}
		return
	}
	switch m.Account {
	case "platform:points:redeemed":
		rep.Redeemed += during
	case "platform:points:expired":
		rep.Expired += during
	default:
		channel := strings.TrimPrefix(m.Account, "platform:points:earned:")
		rep.Earned[channel] -= during
	}
}

// finish lists every channel, those with nothing earned at zero.
func (rep *PointsReport) finish() {
	for _, c := range PointsChannels {
		rep.Earned[c] += 0
	}
}
