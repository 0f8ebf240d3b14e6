// Package dectext writes a decimal.Decimal as its String method does,
// without its cost where the value is an amount: String formats the
// coefficient through math/big and joins the parts in a new string, which
// made a tenth of the server's CPU on the event path (every amount of every
// posting, result and notice is written as text). Append writes the same
// bytes from the int64 coefficient when it has at most 18 digits and the
// exponent lies between -18 and 0; any other value, or the decimal
// package's String options set otherwise than by default, goes through
// String itself.
package dectext

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// pow10 are the powers of ten an int64 holds.
var pow10 = func() (p [19]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// Append appends d.String() to b.
func Append(b []byte, d decimal.Decimal) []byte {
	exp := d.Exponent()
	if exp > 0 || exp < -18 || !decimal.TrimTrailingZeros || decimal.UseScientificNotation || d.NumDigits() > 18 {
		return append(b, d.String()...)
	}
	c := d.CoefficientInt64()
	if exp == 0 {
		return strconv.AppendInt(b, c, 10)
	}
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = uint64(-c)
	}
	scale := pow10[-exp]
	b = strconv.AppendUint(b, u/scale, 10)
	frac, digits := u%scale, int(-exp)
	if frac == 0 {
		return b
	}
	for frac%10 == 0 { // String trims the trailing zeros
		frac /= 10
		digits--
	}
	b = append(b, '.')
	var buf [20]byte
	f := strconv.AppendUint(buf[:0], frac, 10)
	for range digits - len(f) {
		b = append(b, '0')
	}
	return append(b, f...)
}

// String is d.String().
func String(d decimal.Decimal) string {
	var buf [40]byte
	return string(Append(buf[:0], d))
}
