package chaos

import (
	"time"

	"github.com/shopspring/decimal"
)

// The rules the oracle expects, written again from DOMAIN.md (the default
// rule set, version 1) and the API description, in whole fen and points: no
// call into rules/ or loyalty/, so a pricing bug there cannot hide here.

var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// segment is a band of monthly contribution [lo, hi) in fen (hi 0: open),
// its levels first..last and its points multiplier.
type segment struct {
	code        string
	lo, hi      int64
	first, last int
	multiplier  decimal.Decimal
}

var segments = []segment{
	{"floating", 0, 300_00, 1, 3, decimal.RequireFromString("1.0")},
	{"regular", 300_00, 2_000_00, 4, 8, decimal.RequireFromString("1.0")},
	{"mid", 2_000_00, 10_000_00, 9, 15, decimal.RequireFromString("1.2")},
	{"vip", 10_000_00, 100_000_00, 16, 30, decimal.RequireFromString("1.5")},
	{"project", 100_000_00, 0, 31, 40, decimal.RequireFromString("2.0")},
}

// tierOf is the segment and level of a monthly contribution c (fen):
// a + floor((c-lo)*n/(hi-lo)) inside a closed band, and for project
// min(40, 31 + floor((c-100000)/100000)).
func tierOf(c int64) (segment, int) {
	for i := len(segments) - 1; i >= 0; i-- {
		s := segments[i]
		if c < s.lo {
			continue
		}
		if s.hi == 0 {
			return s, min(s.last, s.first+int((c-s.lo)/100_000_00))
		}
		n := int64(s.last - s.first + 1)
		return s, s.first + int((c-s.lo)*n/(s.hi-s.lo))
	}
	panic("negative contribution")
}

// campaign is one the run creates: a window, the segments it is limited to
// (none: all) and its multiplier.
type campaign struct {
	id         string
	from, to   time.Time
	segments   []string
	multiplier decimal.Decimal
}

// bestCampaign is the highest multiplier among the campaigns that cover a
// shipment at t by a customer of the segment; they never stack.
func bestCampaign(campaigns []campaign, t time.Time, seg string) (id *string, multiplier decimal.Decimal) {
	multiplier = decimal.NewFromInt(1)
	for _, c := range campaigns {
		if t.Before(c.from) || !t.Before(c.to) {
			continue
		}
		covers := len(c.segments) == 0
		for _, s := range c.segments {
			covers = covers || s == seg
		}
		if covers && c.multiplier.GreaterThan(multiplier) {
			cid := c.id
			id, multiplier = &cid, c.multiplier
		}
	}
	return id, multiplier
}

// earning is what a shipment of amount earns at a tier multiplier and a
// campaign multiplier: volume = floor(amount * multiplier), points =
// floor(amount * multiplier * campaign), 1 point per CNY.
func earning(amount, multiplier, campaign decimal.Decimal) (volume, points int64) {
	return amount.Mul(multiplier).Floor().IntPart(), amount.Mul(multiplier).Mul(campaign).Floor().IntPart()
}

// rebateRate is the rate of a single deposit of d fen, in basis points:
// 0% under 1,000, 2% from 1,000, 3% from 5,000, 4% from 10,000, 5% from
// 50,000 CNY.
func rebateRate(d int64) int64 {
	switch {
	case d >= 50_000_00:
		return 500
	case d >= 10_000_00:
		return 400
	case d >= 5_000_00:
		return 300
	case d >= 1_000_00:
		return 200
	}
	return 0
}

// rebate is d * rate rounded down to the fen.
func rebate(d int64) int64 { return d * rebateRate(d) / 10_000 }

// clawback is what a withdrawal of w fen claws back from a rebate balance r
// over a principal p (the balances before it): r * w / p rounded half up to
// the fen, at most r.
func clawback(r, p, w int64) int64 {
	if r <= 0 || p <= 0 || w <= 0 {
		return 0
	}
	return min(r, divHalfUp(r*w, p))
}

// takeBack is what a refund asks back from a shipment of amount fen that
// earned points: round_half_up(points * refunded / amount) with refunded
// counted over all its refunds so far, at most points, less what earlier
// refunds already asked (taken or dropped).
func takeBack(points, amount, refundedSoFar, asked int64) int64 {
	return max(0, min(points, divHalfUp(points*refundedSoFar, amount))-asked)
}

// divHalfUp is n/d rounded half up, for n >= 0 and d > 0.
func divHalfUp(n, d int64) int64 { return (2*n + d) / (2 * d) }

// fen is a CNY amount in fen; ok is false when it is finer than the fen.
func fen(d decimal.Decimal) (int64, bool) {
	f := d.Shift(2)
	return f.IntPart(), f.IsInteger()
}

// monthOf is the calendar month of t in Asia/Shanghai, as the API writes it.
func monthOf(t time.Time) string { return t.In(shanghai).Format("2006-01") }

// monthStart is the first instant of the month of t in Asia/Shanghai, moved by
// add months.
func monthStart(t time.Time, add int) time.Time {
	l := t.In(shanghai)
	return time.Date(l.Year(), l.Month()+time.Month(add), 1, 0, 0, 0, 0, shanghai)
}
