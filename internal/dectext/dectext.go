// Package dectext writes a decimal.Decimal as its String method does,
// without its cost where the value is an amount: String formats the
// coefficient through math/big and joins the parts in a new string, which
// made a tenth of the server's CPU on the event path (every amount of every
// posting, result and notice is written as text). Append writes the same
// bytes from the int64 coefficient when it has at most 18 digits and the
// exponent lies between -18 and 0; any other value, or the decimal
// package's String options set otherwise than by default, goes through
// String itself. AppendFixed does the same for StringFixed, which the API
// writes amounts at their asset's scale with.
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

// AppendFixed appends d.StringFixed(places) to b: d rounded to places
// decimals (half away from zero) and written with exactly that many, as the
// API writes an amount at its asset's scale ("400.00", "0.00", "148").
// Like Append it writes from the int64 coefficient when d needs no
// rounding (its exponent lies between -places and 0, with at most 18
// digits, for places up to 18), and goes through StringFixed otherwise.
func AppendFixed(b []byte, d decimal.Decimal, places int32) []byte {
	exp := d.Exponent()
	if places < 0 || places > 18 || exp > 0 || exp < -places || d.NumDigits() > 18 {
		return append(b, d.StringFixed(places)...)
	}
	c := d.CoefficientInt64()
	u := uint64(c)
	if c < 0 {
		b = append(b, '-')
		u = uint64(-c)
	}
	scale := pow10[-exp]
	b = strconv.AppendUint(b, u/scale, 10)
	if places == 0 {
		return b
	}
	b = append(b, '.')
	if exp < 0 {
		var buf [20]byte
		f := strconv.AppendUint(buf[:0], u%scale, 10)
		for range int(-exp) - len(f) {
			b = append(b, '0')
		}
		b = append(b, f...)
	}
	for range places + exp {
		b = append(b, '0')
	}
	return b
}

// Fixed is d.StringFixed(places).
func Fixed(d decimal.Decimal, places int32) string {
	var buf [40]byte
	return string(AppendFixed(buf[:0], d, places))
}
