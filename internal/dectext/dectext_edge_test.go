package dectext

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"
)

// TestAppendEdgeCases: powers of ten and their neighbours at every exponent
// the int64 path takes and around it, strings with exponents, negative zero,
// and results of Round, Truncate, Div, Shift, NewFromFloat.
func TestAppendEdgeCases(t *testing.T) {
	var vs []decimal.Decimal
	var cs []int64
	for k := 0; k <= 18; k++ {
		p := int64(1)
		for range k {
			p *= 10
		}
		cs = append(cs, p, p-1, p+1, 5*p, p/2)
		if k < 18 {
			cs = append(cs, p*9+p-1)
		}
	}
	cs = append(cs, math.MaxInt64, math.MinInt64, math.MinInt64+1, 0)
	for _, c := range cs {
		for e := int32(-22); e <= 3; e++ {
			vs = append(vs, decimal.New(c, e), decimal.New(-c, e))
		}
	}
	for _, s := range []string{"-0", "-0.000", "0e-30", "-0e5", "1e-18", "-1e-18", "1e-19", "1.5E+3", "15e-1", "1000e-3",
		"0.000000000000000001", "999999999999999999e-18", "9999999999999999999e-18", "-9223372036854775808e-5",
		"9223372036854775808e-5", "18446744073709551615e-10", "123.4500", "-.5", "+.5", "1.", "00012.3400"} {
		vs = append(vs, decimal.RequireFromString(s))
	}
	vs = append(vs, decimal.Decimal{}, decimal.NewFromBigInt(new(big.Int).Lsh(big.NewInt(1), 64), -3),
		decimal.NewFromBigInt(new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 63)), -3))
	r := rand.New(rand.NewPCG(9, 9))
	for range 200_000 {
		c := r.Int64() >> r.IntN(63)
		if r.IntN(2) == 0 {
			c = -c
		}
		d := decimal.New(c, int32(r.IntN(26)-22))
		vs = append(vs, d, d.Round(int32(r.IntN(6))), d.Truncate(int32(r.IntN(6))), d.Shift(int32(r.IntN(10)-5)),
			d.Neg(), d.Abs(), d.Round(-1), decimal.NewFromFloat(r.NormFloat64()*math.Pow10(r.IntN(20)-10)),
			d.DivRound(decimal.New(3, 0), int32(r.IntN(20))))
		s := strconv.FormatInt(c, 10) + "e" + strconv.Itoa(r.IntN(40)-20)
		vs = append(vs, decimal.RequireFromString(s))
	}
	for _, d := range vs {
		if got, want := string(Append([]byte("x"), d)), "x"+d.String(); got != want {
			t.Fatalf("Append(coefficient %s, exponent %d) = %q, want %q", d.Coefficient(), d.Exponent(), got, want)
		}
	}
}
