package finance

import (
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
	total := RebateRow{CustomerID: "TOTAL"}
	// A customer's prepaid and rebate accounts come one after the other
	// (ordered by customer): their row is emitted when the next customer's
	// accounts begin.
	var row *RebateRow
	flush := func() error {
		if row == nil {
			return nil
		}
		r := *row
		row = nil
		r.rate()
		total.add(r)
		return emit(r)
	}
	err := s.ledger.Movements(ctx, ledger.MovementFilter{Prefix: "customer:", Suffixes: []string{":rebate", ":prepaid"}}, from, to,
		func(m ledger.Movements) error {
			customer, _ := ledger.CustomerOf(m.Account)
			if row != nil && row.CustomerID != customer {
				if err := flush(); err != nil {
					return err
				}
			}
			if row == nil {
				row = &RebateRow{CustomerID: customer}
			}
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
		})
	if err == nil {
		err = flush()
	}
	total.rate()
	return total, err
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
// platform code only as the whole code).
var pointsAccounts = ledger.MovementFilter{Suffixes: []string{"platform:points:redeemed", "platform:points:expired",
	"platform:points:earned:volume", "platform:points:earned:referral", "platform:points:earned:feedback",
	"platform:points:earned:campaign", "platform:points:earned:adjustment", ":points_owed"}}

// PointsRollForward computes the points report for [from, to). The
// liability is what customers hold: the opposite of the platform's points
// accounts and the customers' points_owed accounts, which sum with the
// customers' points to zero.
func (s *Service) PointsRollForward(ctx context.Context, from, to time.Time) (PointsReport, error) {
	rep := PointsReport{From: from, To: to, Earned: map[string]int64{}}
	err := s.ledger.Movements(ctx, pointsAccounts, from, to, func(m ledger.Movements) error {
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
			return nil
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
		return nil
	})
	for _, c := range PointsChannels {
		rep.Earned[c] += 0
	}
	return rep, err
}
