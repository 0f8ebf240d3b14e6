package pricemodel

import (
	"math/big"
	"time"

	"github.com/shopspring/decimal"
)

// Month is a calendar month in the rules' zone, as "2026-03".
type Month string

// MonthOf is the calendar month of t in the rules' zone.
func (r Rules) MonthOf(t time.Time) Month { return Month(t.In(r.Zone).Format("2006-01")) }

// MonthStart is the first instant of the month m in the rules' zone.
func (r Rules) MonthStart(m Month) time.Time {
	first, err := time.ParseInLocation("2006-01", string(m), r.Zone)
	if err != nil {
		panic("pricemodel: not a month: " + string(m))
	}
	return first
}

// Prev is the month before m.
func (m Month) Prev() Month {
	first, err := time.Parse("2006-01", string(m))
	if err != nil {
		panic("pricemodel: not a month: " + string(m))
	}
	return Month(first.AddDate(0, -1, 0).Format("2006-01"))
}

// Tier is a segment and a level.
type Tier struct {
	Segment string
	Level   int
}

// TierOf is the tier a monthly contribution c reaches: the segment whose
// band holds c; inside a band [lo, hi) with levels a..b (n = b-a+1) the level
// is a + floor((c-lo)*n/(hi-lo)); in the open-ended last band it is
// min(b, a + floor((c-lo)/step)).
func (r Rules) TierOf(c decimal.Decimal) Tier {
	i := 0
	for j, s := range r.Segments {
		if c.GreaterThanOrEqual(s.Min) {
			i = j
		}
	}
	s := r.Segments[i]
	above := sub(rat(c), rat(s.Min)) // c - lo
	if i == len(r.Segments)-1 {
		steps := floor(quo(above, rat(s.LevelStep)))
		return Tier{s.Code, int(min(int64(s.LastLevel), int64(s.FirstLevel)+steps))}
	}
	n := ratInt(int64(s.LastLevel - s.FirstLevel + 1))
	width := sub(rat(r.Segments[i+1].Min), rat(s.Min)) // hi - lo
	return Tier{s.Code, s.FirstLevel + int(floor(quo(mul(above, n), width)))}
}

// TierInEffect is the tier during a month: the higher of the tier of last
// month's total and the tier of this month's contribution so far (upgrades
// at once, downgrades only when the month turns).
func (r Rules) TierInEffect(lastMonth, thisMonthSoFar decimal.Decimal) Tier {
	last, this := r.TierOf(lastMonth), r.TierOf(thisMonthSoFar)
	if this.Level > last.Level {
		return this
	}
	return last
}

// Campaign is a featured campaign: an extra multiplier from From until
// Until (Until excluded), for the listed segments or, when none is listed,
// for all.
type Campaign struct {
	ID          string
	From, Until time.Time
	Multiplier  decimal.Decimal
	Segments    []string
}

func (c Campaign) applies(t time.Time, segment string) bool {
	if t.Before(c.From) || !t.Before(c.Until) {
		return false
	}
	if len(c.Segments) == 0 {
		return true
	}
	for _, s := range c.Segments {
		if s == segment {
			return true
		}
	}
	return false
}

// Earning is how a shipment's points are priced.
type Earning struct {
	Multiplier         decimal.Decimal // the segment's
	Campaign           string          // the campaign that applies, "" if none does
	CampaignMultiplier decimal.Decimal // 1 when no campaign applies
	// Points = floor(A * base_rate * multiplier * campaign). Volume is the
	// same without the campaign; CampaignPoints is what the campaign adds.
	Volume, CampaignPoints, Points int64
}

// Earn prices a paid shipment of amount A by a customer of the segment at t:
// floor(A * base_rate * multiplier[segment] * campaign), where campaign is
// the highest multiplier of the campaigns that apply (they never stack; of
// equal ones the first listed), 1 when none raises it.
func (r Rules) Earn(amount decimal.Decimal, segment string, t time.Time, campaigns []Campaign) Earning {
	e := Earning{CampaignMultiplier: decimal.NewFromInt(1)}
	for _, s := range r.Segments {
		if s.Code == segment {
			e.Multiplier = s.Multiplier
		}
	}
	for _, c := range campaigns {
		if c.applies(t, segment) && c.Multiplier.GreaterThan(e.CampaignMultiplier) {
			e.Campaign, e.CampaignMultiplier = c.ID, c.Multiplier
		}
	}
	base := mul(rat(amount), rat(r.PointsPerCNY))
	e.Volume = floor(mul(base, rat(e.Multiplier)))
	e.Points = floor(mul(mul(base, rat(e.Multiplier)), rat(e.CampaignMultiplier)))
	e.CampaignPoints = e.Points - e.Volume
	return e
}

// Referral decides what a referee's shipment of amount means for their
// referrer, given whether a bonus was already decided for the referee and
// how many bonuses the referrer was paid for shipments in the same month:
// the referee's first shipment of at least ReferralMin decides, once; it is
// "capped" (recorded, not paid) when ReferralCap were paid that month
// already, else "pending" with ReferralBonus points. Status "" decides
// nothing.
func (r Rules) Referral(amount decimal.Decimal, decided bool, paidThisMonth int) (status string, points int64) {
	switch {
	case decided || amount.LessThan(r.ReferralMin):
		return "", 0
	case paidThisMonth >= r.ReferralCap:
		return "capped", 0
	}
	return "pending", r.ReferralBonus
}

// PendingUntil is when a referral bonus for a shipment at t becomes
// available: PendingDays days later (the return window).
func (r Rules) PendingUntil(t time.Time) time.Time { return t.In(r.Zone).AddDate(0, 0, r.PendingDays) }

// TakeBack is the points a refund takes back from a shipment that earned
// `earned` points on `amount`, when the shipment's refunds (this one
// included) now total `refunded` and earlier refunds already reversed
// `reversed`: round_half_up(earned * refunded / amount), counted over all the
// refunds so far so that partial refunds add up to the whole, less what is
// already reversed, never below zero and never more than is still
// unreversed.
func TakeBack(earned int64, amount, refunded decimal.Decimal, reversed int64) int64 {
	due := roundHalfUp(quo(mul(ratInt(earned), rat(refunded)), rat(amount)))
	return max(0, min(due, earned)-reversed)
}

// ExpiresAt is when a lot earned at t expires: the end of the
// ExpiryMonths-th calendar month after the month of t, in the rules' zone
// (earned 2026-03-15 -> 2027-04-01T00:00:00+08:00).
func (r Rules) ExpiresAt(t time.Time) time.Time {
	local := t.In(r.Zone)
	// time.Date normalises a month past December into the next years.
	return time.Date(local.Year(), local.Month()+time.Month(r.ExpiryMonths)+1, 1, 0, 0, 0, 0, r.Zone)
}

// Rebate is a single deposit D's rate (of the highest row D reaches) and
// rebate D * rate, rounded down to the fen.
func (r Rules) Rebate(deposit decimal.Decimal) (rate, rebate decimal.Decimal) {
	rate = decimal.Zero
	for _, row := range r.Rebates {
		if deposit.GreaterThanOrEqual(row.Min) {
			rate = row.Rate
		}
	}
	fen := floor(mul(mul(rat(deposit), rat(rate)), ratInt(100)))
	return rate, decimal.New(fen, -2)
}

// Charge pays a charge from prepaid: principal first, then rebate. A charge
// larger than principal + rebate is refused whole (ok = false).
func Charge(principal, rebate, charge decimal.Decimal) (fromPrincipal, fromRebate decimal.Decimal, ok bool) {
	if charge.GreaterThan(principal.Add(rebate)) {
		return decimal.Zero, decimal.Zero, false
	}
	fromPrincipal = decimal.Min(charge, principal)
	return fromPrincipal, charge.Sub(fromPrincipal), true
}

// Clawback is the rebate a withdrawal of w from principal takes back:
// rebate * w / principal rounded up to the fen, at most the rebate; nothing
// when there is no principal. The rule rounds what the withdrawal leaves
// down to the fen; for a rebate in whole fen (every rebate balance) taking
// back the share rounded up is the same, since r - floor(r - x) = ceil(x)
// for a whole r. Rounding the share up is what keeps a split from keeping
// more: ceilings of the parts add up to at least the ceiling of the whole.
func Clawback(rebate, principal, w decimal.Decimal) decimal.Decimal {
	if !principal.IsPositive() {
		return decimal.Zero
	}
	fen := ceil(mul(quo(mul(rat(rebate), rat(w)), rat(principal)), ratInt(100)))
	return decimal.Min(decimal.New(fen, -2), rebate)
}

// Exact arithmetic on rationals: no rounding until the rule says so.

func rat(d decimal.Decimal) *big.Rat { return d.Rat() }
func ratInt(n int64) *big.Rat        { return new(big.Rat).SetInt64(n) }
func mul(a, b *big.Rat) *big.Rat     { return new(big.Rat).Mul(a, b) }
func quo(a, b *big.Rat) *big.Rat     { return new(big.Rat).Quo(a, b) }
func sub(a, b *big.Rat) *big.Rat     { return new(big.Rat).Sub(a, b) }

// floor is the greatest integer <= r (big.Int.Div is Euclidean, and a
// Rat's denominator is positive).
func floor(r *big.Rat) int64 {
	q := new(big.Int).Div(r.Num(), r.Denom())
	if !q.IsInt64() {
		panic("pricemodel: " + r.String() + " is out of range")
	}
	return q.Int64()
}

// ceil is the least integer >= r.
func ceil(r *big.Rat) int64 { return -floor(new(big.Rat).Neg(r)) }

// roundHalfUp is r rounded to the nearest integer, halves up.
func roundHalfUp(r *big.Rat) int64 { return floor(new(big.Rat).Add(r, big.NewRat(1, 2))) }
