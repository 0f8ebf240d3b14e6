// Package decsum adds decimal amounts exactly, as decimal.Decimal.Add
// does, without its allocations while the terms and the total fit an
// int64 coefficient: each Add of decimal.Decimal makes a new big.Int, and
// the ledger adds up every posting of every entry it validates and every
// account's total of a group it writes (thousands a second). A Sum holds
// the coefficient at the least exponent of its terms, as Add rescales to
// it, so its value has the same coefficient and exponent as the chain of
// Adds, and prints the same. A term of more than 18 digits, or a total
// that leaves an int64, moves the sum to decimal.Decimal for good.
package decsum

import (
	"math"

	"github.com/shopspring/decimal"
)

// Sum is a running total. Its zero value is zero, as decimal.Decimal's
// is (coefficient 0, exponent 0), and adding to it is adding to that.
type Sum struct {
	coef  int64
	exp   int32
	large bool // the total is in big
	big   decimal.Decimal
}

// Pow10 are the powers of ten an int64 holds, 10^0 to 10^18.
var Pow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// Add adds d to the sum.
func (s *Sum) Add(d decimal.Decimal) {
	if s.large {
		s.big = s.big.Add(d)
		return
	}
	if d.NumDigits() > 18 {
		s.toLarge(d)
		return
	}
	c, e := d.CoefficientInt64(), d.Exponent()
	// Both at the lesser exponent, as decimal's Add rescales them.
	a, b, exp := s.coef, c, s.exp
	switch {
	case e < exp:
		var ok bool
		if a, ok = scale(a, exp-e); !ok {
			s.toLarge(d)
			return
		}
		exp = e
	case e > exp:
		var ok bool
		if b, ok = scale(b, e-exp); !ok {
			s.toLarge(d)
			return
		}
	}
	sum := a + b
	if (a >= 0) == (b >= 0) && (sum >= 0) != (a >= 0) { // overflowed
		s.toLarge(d)
		return
	}
	s.coef, s.exp = sum, exp
}

// toLarge moves the sum to decimal arithmetic, adding d.
func (s *Sum) toLarge(d decimal.Decimal) {
	s.big, s.large = s.Decimal().Add(d), true
}

// scale is c × 10^by, false when that leaves an int64.
func scale(c int64, by int32) (int64, bool) {
	if by >= int32(len(Pow10)) {
		return 0, c == 0
	}
	p := Pow10[by]
	if c > math.MaxInt64/p || c < math.MinInt64/p {
		return 0, false
	}
	return c * p, true
}

// Decimal is the sum.
func (s Sum) Decimal() decimal.Decimal {
	switch {
	case s.large:
		return s.big
	case s.coef == 0 && s.exp == 0:
		return decimal.Decimal{} // nothing added, or zero at exponent 0
	}
	return decimal.New(s.coef, s.exp)
}

// IsZero reports whether the sum is zero.
func (s Sum) IsZero() bool {
	if s.large {
		return s.big.IsZero()
	}
	return s.coef == 0
}

// Units is d counted in units of 10^exp (d = n × 10^exp; exp -2 counts a
// CNY amount in fen). ok is false when d is not a whole number of such
// units, when its coefficient has more than 18 digits, or when n does not
// fit an int64.
func Units(d decimal.Decimal, exp int32) (n int64, ok bool) {
	if d.NumDigits() > 18 {
		return 0, false
	}
	c, e := d.CoefficientInt64(), int64(d.Exponent())-int64(exp) // in int64: the difference of two int32 may not fit one
	switch {
	case e >= int64(len(Pow10)):
		return 0, c == 0
	case e >= 0:
		return scale(c, int32(e))
	case -e >= int64(len(Pow10)):
		return 0, c == 0
	case c%Pow10[-e] != 0:
		return 0, false
	}
	return c / Pow10[-e], true
}
