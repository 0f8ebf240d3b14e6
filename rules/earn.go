package rules

import (
	"math"
	"math/bits"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/decsum"
)

// Campaign is a featured campaign: an extra multiplier during a window,
// optionally only for some segments.
type Campaign struct {
	ID         string          `json:"id"`
	StartsAt   time.Time       `json:"starts_at"`
	EndsAt     time.Time       `json:"ends_at"`
	Multiplier decimal.Decimal `json:"multiplier"`
	Segments   []string        `json:"segments,omitempty"`
}

// Applies reports whether the campaign covers a shipment at t by a customer
// of the segment.
func (c Campaign) Applies(t time.Time, segment string) bool {
	if t.Before(c.StartsAt) || !t.Before(c.EndsAt) {
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

// Earning is how a shipment's points were priced.
type Earning struct {
	// Base is amount * points_per_cny, before multipliers.
	Base decimal.Decimal `json:"base"`
	// Multiplier is the tier's.
	Multiplier decimal.Decimal `json:"multiplier"`
	// Campaign is the best applicable campaign, nil if none applies.
	Campaign           *string         `json:"campaign"`
	CampaignMultiplier decimal.Decimal `json:"campaign_multiplier"`
	// Volume is floor(base * multiplier), from the volume channel;
	// CampaignPoints is what the campaign adds on top, from the campaign
	// channel; Points is their sum, floor(base * multiplier * campaign).
	Volume         int64 `json:"volume,string"`
	CampaignPoints int64 `json:"campaign_points,string"`
	Points         int64 `json:"points,string"`
}

// EarnShipment prices a paid shipment of amount by a customer of tier at t:
// floor(amount * points_per_cny * multiplier[segment] * campaign), where
// campaign is the highest multiplier among the campaigns that apply (they
// never stack), 1 when none does.
func (rs *RuleSet) EarnShipment(amount decimal.Decimal, tier Tier, t time.Time, campaigns []Campaign) Earning {
	seg, _ := rs.Segment(tier.Segment)
	e := Earning{Base: amount.Mul(rs.PointsPerCNY), Multiplier: seg.Multiplier, CampaignMultiplier: one}
	for _, c := range campaigns {
		if c.Applies(t, tier.Segment) && c.Multiplier.GreaterThan(e.CampaignMultiplier) {
			id := c.ID
			e.Campaign, e.CampaignMultiplier = &id, c.Multiplier
		}
	}
	e.Volume = wholeProduct(amount, rs.PointsPerCNY, e.Multiplier)
	e.Points = wholeProduct(amount, rs.PointsPerCNY, e.Multiplier, e.CampaignMultiplier)
	e.CampaignPoints = e.Points - e.Volume
	return e
}

// wholeProduct is the product of the factors with its fraction dropped
// (towards zero, as floorDiv(product, 1) drops it), as an int64. It is
// computed in 64-bit integers when every coefficient and the product fit
// (every shipment's earning does), without the allocations of decimal
// arithmetic (several an event), and with decimal arithmetic otherwise.
func wholeProduct(factors ...decimal.Decimal) int64 {
	if n, ok := wholeProduct64(factors); ok {
		return n
	}
	p := one
	for _, f := range factors {
		p = p.Mul(f)
	}
	return floorDiv(p, one).IntPart()
}

// wholeProduct64 is wholeProduct in 64-bit integers; ok is false when a
// coefficient or the product does not fit.
func wholeProduct64(factors []decimal.Decimal) (n int64, ok bool) {
	n, exp := 1, 0
	for _, f := range factors {
		if f.NumDigits() > 18 { // its coefficient may not fit an int64
			return 0, false
		}
		c := f.CoefficientInt64()
		hi, lo := bits.Mul64(uint64(absInt64(n)), uint64(absInt64(c)))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		if (n < 0) != (c < 0) {
			n = -int64(lo)
		} else {
			n = int64(lo)
		}
		exp += int(f.Exponent())
	}
	switch {
	case n == 0:
		return 0, true
	case exp >= 0:
		if exp >= len(decsum.Pow10) {
			return 0, false
		}
		hi, lo := bits.Mul64(uint64(absInt64(n)), uint64(decsum.Pow10[exp]))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		if n < 0 {
			return -int64(lo), true
		}
		return int64(lo), true
	case -exp < len(decsum.Pow10):
		return n / decsum.Pow10[-exp], true // Go's division drops the fraction towards zero
	default:
		return 0, true // |n| < 2^63 < 10^19 <= 10^-exp
	}
}

// absInt64 is |n| for n > math.MinInt64 (a coefficient of at most 18
// digits, or a product checked to fit).
func absInt64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// ReferralOutcome is what a referee's shipment means for the referrer.
type ReferralOutcome string

// The outcomes of a referral.
const (
	ReferralNone    ReferralOutcome = ""        // no bonus: no referrer, too small, or already paid
	ReferralPending ReferralOutcome = "pending" // bonus credited, pending until the return window ends
	ReferralCapped  ReferralOutcome = "capped"  // would qualify, but the referrer's monthly cap is reached: recorded, not paid
)

// ReferralState is what the caller knows of a referee and their referrer.
type ReferralState struct {
	HasReferrer bool
	// AlreadyQualified: a bonus (paid, pending, capped or cancelled) was
	// already recorded for this referee; it is paid once.
	AlreadyQualified bool
	// PaidThisMonth is how many bonuses the referrer was paid in the month
	// of the shipment.
	PaidThisMonth int
}

// Referral decides the referrer's bonus for a referee's shipment of amount
// at t: the first shipment of at least min_shipment qualifies, once; at most
// monthly_cap bonuses per referrer per month are paid. A paid bonus becomes
// available pending_days after the shipment.
func (rs *RuleSet) ReferralFor(amount decimal.Decimal, t time.Time, st ReferralState) (ReferralOutcome, int64, time.Time) {
	if !st.HasReferrer || st.AlreadyQualified || amount.LessThan(rs.Referral.MinShipment.Decimal) {
		return ReferralNone, 0, time.Time{}
	}
	availableAt := t.AddDate(0, 0, rs.Referral.PendingDays)
	if st.PaidThisMonth >= rs.Referral.MonthlyCap {
		return ReferralCapped, 0, availableAt
	}
	return ReferralPending, rs.Referral.Bonus, availableAt
}

// TakeBack is the points a refund takes back from a shipment that earned
// earned points on amount: round_half_up(earned * refunded / amount), with
// refunded counted cumulatively over all of the shipment's refunds so that
// partial refunds never drift from the whole, and never more than is still
// unreversed. reversed is what earlier refunds already took (or dropped).
func TakeBack(earned int64, amount, refundedBefore, refundNow decimal.Decimal, reversed int64) int64 {
	if !amount.IsPositive() || earned <= 0 {
		return 0
	}
	total := roundHalfUpDiv(decimal.NewFromInt(earned).Mul(refundedBefore.Add(refundNow)), amount).IntPart()
	return max(0, min(total, earned)-reversed)
}

// ExpiresAt is when points earned at t expire: the end of the
// expiry_months-th calendar month after the month earned, in the rule set's
// zone (earned 2026-03-15 -> 2027-04-01T00:00:00+08:00).
func (rs *RuleSet) ExpiresAt(t time.Time) time.Time {
	local := t.In(rs.Location())
	first := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, rs.Location())
	return first.AddDate(0, rs.ExpiryMonths+1, 0)
}

// Rebate is the rate and rebate of a single prepaid deposit: the rate of the
// highest tier the deposit reaches, rebate = deposit * rate rounded down to
// the fen (the company's way).
func (rs *RuleSet) Rebate(deposit decimal.Decimal) (rate, rebate decimal.Decimal) {
	rate = decimal.Zero
	for _, t := range rs.Rebates {
		if deposit.GreaterThanOrEqual(t.Min.Decimal) {
			rate = t.Rate
		}
	}
	return rate, deposit.Mul(rate).RoundDown(2)
}

// Clawback is the rebate taken back when withdrawing w of principal. What
// the withdrawal leaves is rounded down to the fen:
//
//	rebate_after = floor_fen(rebate * (principal - w) / principal)
//	clawback     = rebate - rebate_after
//
// so a withdrawal of all the principal (or more) takes all the rebate.
// Rounding what is left down never favours splitting: since
// floor(floor(x) * a) <= floor(x * a) for 0 <= a <= 1, no sequence of
// withdrawals leaves more rebate than one withdrawal of the same total,
// and k withdrawals leave at most k-1 fen less than one. For a rebate in
// whole fen this is rebate * w / principal rounded up to the fen.
func Clawback(rebate, principal, w decimal.Decimal) decimal.Decimal {
	if !principal.IsPositive() || !rebate.IsPositive() || !w.IsPositive() {
		return decimal.Zero
	}
	if w.GreaterThanOrEqual(principal) {
		return rebate
	}
	left := floorDiv(rebate.Mul(principal.Sub(w)).Shift(2), principal).Shift(-2)
	return rebate.Sub(left)
}
