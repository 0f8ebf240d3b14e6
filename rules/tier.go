package rules

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/money"
)

// Tier is a customer's segment and level.
type Tier struct {
	Segment string `json:"segment"`
	Level   int    `json:"level"`
}

// Month is a calendar month in the rule set's time zone, as "2026-02".
type Month string

// MonthOf is the calendar month of t in the rule set's time zone: an event
// at 2026-01-31T20:00Z is in February in Asia/Shanghai.
func (rs *RuleSet) MonthOf(t time.Time) Month {
	y, m, _ := t.In(rs.Location()).Date()
	if y >= firstNamed && y < firstNamed+len(monthNames)/12 {
		return monthNames[(y-firstNamed)*12+int(m)-1]
	}
	return Month(t.In(rs.Location()).Format("2006-01"))
}

// monthNames are the months of the years firstNamed to 2199 as MonthOf
// writes them, made once: a group prices a month per event, and time's
// layout (and the string it allocates) was 1.5% of the server's CPU
// under a stream of batches.
var monthNames = func() []Month {
	names := make([]Month, 0, (2200-firstNamed)*12)
	for y := firstNamed; y < 2200; y++ {
		for m := 1; m <= 12; m++ {
			names = append(names, Month(fmt.Sprintf("%04d-%02d", y, m)))
		}
	}
	return names
}()

const firstNamed = 1900

// Start is the first instant of the month in loc.
func (m Month) Start(loc *time.Location) time.Time {
	t, _ := time.ParseInLocation("2006-01", string(m), loc)
	return t
}

// Prev is the month before.
func (m Month) Prev() Month {
	// A well-formed month by arithmetic on its digits (no parse, no
	// format: a group prices it per event); anything else as time does.
	if len(m) == 7 && m[4] == '-' {
		n, ok := 0, true
		for i, c := range []byte(m) {
			if i != 4 {
				ok = ok && '0' <= c && c <= '9'
				n = n*10 + int(c-'0')
			}
		}
		year, month := n/100, n%100
		if ok && 1 <= month && month <= 12 && (year > 0 || month > 1) {
			if month--; month == 0 {
				year, month = year-1, 12
			}
			b := [7]byte{byte('0' + year/1000), byte('0' + year/100%10), byte('0' + year/10%10), byte('0' + year%10), '-',
				byte('0' + month/10), byte('0' + month%10)}
			return Month(b[:])
		}
	}
	t, _ := time.Parse("2006-01", string(m))
	return Month(t.AddDate(0, -1, 0).Format("2006-01"))
}

// Valid reports whether m is a well-formed month of the years 1971 to 2998:
// a year inside the instants' range (InRange) on each side, so that the
// month begins and ends inside it in any time zone.
func (m Month) Valid() bool {
	t, err := time.Parse("2006-01", string(m))
	return err == nil && len(m) == 7 && t.Year() > FirstInstant.Year() && t.Year() < EndOfInstants.Year()-1
}

// TierOf is the tier a monthly contribution c reaches: within a segment
// [lo, hi) of levels a..b, a + floor((c-lo)*n/(hi-lo)); in the open-ended
// last segment one more level per level_step, up to its last level.
func (rs *RuleSet) TierOf(c decimal.Decimal) Tier {
	if t, ok := rs.tierOfFen(c); ok {
		return t
	}
	return rs.tierOfDecimal(c)
}

// tierOfDecimal is TierOf in decimal arithmetic, for any c.
func (rs *RuleSet) tierOfDecimal(c decimal.Decimal) Tier {
	i := rs.segmentIndex(c)
	s := rs.Segments[i]
	var steps decimal.Decimal
	if i == len(rs.Segments)-1 {
		steps = floorDiv(c.Sub(s.Min.Decimal), s.LevelStep.Decimal)
	} else {
		n := decimal.NewFromInt(int64(s.LastLevel - s.FirstLevel + 1))
		steps = floorDiv(c.Sub(s.Min.Decimal).Mul(n), rs.Segments[i+1].Min.Sub(s.Min.Decimal))
	}
	level := s.FirstLevel + int(steps.IntPart())
	return Tier{Segment: s.Code, Level: min(level, s.LastLevel)}
}

// tierOfFen is TierOf in whole fen, int64 arithmetic, when c and the
// segments' bounds are whole fen of less than 10^15 (false otherwise): the
// same floors (Go's division truncates as QuoRem does), without the
// decimals' allocations. It runs twice per shipment priced
// (TestTierOfFenIsTierOf holds it to the decimal arithmetic).
func (rs *RuleSet) tierOfFen(c decimal.Decimal) (Tier, bool) {
	cf, ok := fen(c)
	if !ok || len(rs.Segments) == 0 {
		return Tier{}, false
	}
	i := 0
	for j, s := range rs.Segments {
		m, ok := fen(s.Min.Decimal)
		if !ok {
			return Tier{}, false
		}
		if cf >= m {
			i = j
		}
	}
	s := rs.Segments[i]
	lo, _ := fen(s.Min.Decimal)
	var steps int64
	if i == len(rs.Segments)-1 {
		step, ok := fen(s.LevelStep.Decimal)
		if !ok || step <= 0 {
			return Tier{}, false
		}
		steps = (cf - lo) / step
	} else {
		hi, _ := fen(rs.Segments[i+1].Min.Decimal)
		n := int64(s.LastLevel - s.FirstLevel + 1)
		if hi <= lo || n <= 0 || n > 1000 {
			return Tier{}, false
		}
		steps = (cf - lo) * n / (hi - lo) // |cf - lo| < 2e15, n <= 1000: no overflow
	}
	level := s.FirstLevel + int(steps)
	return Tier{Segment: s.Code, Level: min(level, s.LastLevel)}, true
}

// fen is d in whole fen (hundredths), when it is a whole number of them
// and less than 10^15 in size.
func fen(d decimal.Decimal) (int64, bool) {
	exp := d.Exponent() + 2
	if exp < 0 || exp > 15 || d.NumDigits()+int(exp) > 15 {
		return 0, false
	}
	f := d.CoefficientInt64()
	for range exp {
		f *= 10
	}
	return f, true
}

func (rs *RuleSet) segmentIndex(c decimal.Decimal) int {
	i := 0
	for j, s := range rs.Segments {
		if c.GreaterThanOrEqual(s.Min.Decimal) {
			i = j
		}
	}
	return i
}

// Segment returns the segment with the code.
func (rs *RuleSet) Segment(code string) (Segment, bool) {
	for _, s := range rs.Segments {
		if s.Code == code {
			return s, true
		}
	}
	return Segment{}, false
}

// TierInEffect is the tier during a month: the higher of the tier of last
// month's total and the tier of this month's contribution so far. Upgrades
// are immediate; downgrades happen only at a month boundary.
func (rs *RuleSet) TierInEffect(lastMonth, thisMonthSoFar decimal.Decimal) (Tier, Basis) {
	last, this := rs.TierOf(lastMonth), rs.TierOf(thisMonthSoFar)
	if this.Level > last.Level {
		return this, BasisThisMonth
	}
	return last, BasisLastMonth
}

// Basis says which month's contribution set the tier.
type Basis string

// The bases of a tier.
const (
	BasisLastMonth Basis = "last_month"
	BasisThisMonth Basis = "this_month"
)

// Target is a tier to reach and the contribution this month still needs.
type Target struct {
	Segment string    `json:"segment"`
	Level   int       `json:"level"`
	Needed  money.CNY `json:"needed"`
}

// Progress is what this month's contribution still needs to reach the next
// level and the next segment above the tier in effect (nil at the top).
func (rs *RuleSet) Progress(current Tier, thisMonth decimal.Decimal) (nextLevel, nextSegment *Target) {
	for level := current.Level + 1; ; level++ {
		at, ok := rs.threshold(level)
		if !ok {
			break
		}
		t := &Target{Segment: rs.TierOf(at).Segment, Level: level, Needed: money.Of(decimal.Max(at.Sub(thisMonth), decimal.Zero))}
		if nextLevel == nil {
			nextLevel = t
		}
		if t.Segment != current.Segment {
			nextSegment = t
			break
		}
	}
	return nextLevel, nextSegment
}

// threshold is the least monthly contribution (to the fen) that reaches the
// level.
func (rs *RuleSet) threshold(level int) (decimal.Decimal, bool) {
	for i, s := range rs.Segments {
		if level < s.FirstLevel || level > s.LastLevel {
			continue
		}
		k := decimal.NewFromInt(int64(level - s.FirstLevel))
		if i == len(rs.Segments)-1 {
			return s.Min.Add(k.Mul(s.LevelStep.Decimal)), true
		}
		n := decimal.NewFromInt(int64(s.LastLevel - s.FirstLevel + 1))
		width := rs.Segments[i+1].Min.Sub(s.Min.Decimal)
		// c >= lo + k*width/n, rounded up to the fen.
		return s.Min.Add(ceilDiv(k.Mul(width).Shift(2), n).Shift(-2)), true
	}
	return decimal.Zero, false
}

// floorDiv is floor(a/b) for a >= 0, b > 0, computed exactly.
func floorDiv(a, b decimal.Decimal) decimal.Decimal {
	q, _ := a.QuoRem(b, 0)
	return q
}

// ceilDiv is ceil(a/b) for a >= 0, b > 0, computed exactly.
func ceilDiv(a, b decimal.Decimal) decimal.Decimal {
	q, r := a.QuoRem(b, 0)
	if r.IsPositive() {
		q = q.Add(decimal.NewFromInt(1))
	}
	return q
}

// roundHalfUpDiv is a/b rounded half up to a whole number, for a >= 0,
// b > 0, computed exactly: floor((2a + b) / 2b).
func roundHalfUpDiv(a, b decimal.Decimal) decimal.Decimal {
	two := decimal.NewFromInt(2)
	return floorDiv(a.Mul(two).Add(b), b.Mul(two))
}
