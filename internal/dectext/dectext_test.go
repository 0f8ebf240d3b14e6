package dectext

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// values are decimals of every shape Append handles itself or hands to
// String: zero, signs, trailing zeros, leading fractional zeros, the int64
// bounds, 18 and 19 digits, exponents from -25 to 3, and results of
// arithmetic (whose exponents the decimal package chooses).
func values(r *rand.Rand) []decimal.Decimal {
	out := []decimal.Decimal{decimal.Zero, decimal.New(0, -2), decimal.New(0, 3), decimal.New(-5, -1), decimal.New(5, -20),
		decimal.New(math.MaxInt64, -2), decimal.New(math.MinInt64, -2), decimal.New(math.MinInt64+1, -18),
		decimal.New(999_999_999_999_999_999, -18), decimal.New(-999_999_999_999_999_999, -3),
		decimal.New(1_000_000_000_000_000_000, -4), decimal.New(120000, -4), decimal.New(1, -18), decimal.New(-1, -19),
		decimal.RequireFromString("35.50"), decimal.RequireFromString("-0.000100"), decimal.RequireFromString("1200.00")}
	for range 20_000 {
		var c int64
		switch r.IntN(4) {
		case 0:
			c = r.Int64N(1000)
		case 1:
			c = r.Int64N(100_000_000)
		case 2:
			c = r.Int64()
		default:
			c = r.Int64N(10) * int64(math.Pow10(r.IntN(18)))
		}
		if r.IntN(3) == 0 {
			c = -c
		}
		d := decimal.New(c, int32(r.IntN(29)-25))
		out = append(out, d)
		e := decimal.New(r.Int64N(1_000_000), int32(-r.IntN(8)))
		out = append(out, d.Add(e), d.Mul(e), e.Sub(d), d.Round(2), d.Truncate(0))
	}
	return out
}

func TestAppendIsString(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for _, d := range values(r) {
		if got, want := string(Append([]byte("x"), d)), "x"+d.String(); got != want {
			t.Fatalf("Append(%s, exponent %d) = %q, want %q", d.String(), d.Exponent(), got, want)
		}
		if got := String(d); got != d.String() {
			t.Fatalf("String = %q, want %q", got, d.String())
		}
		if d.Exponent() <= 0 && d.Exponent() >= -18 && d.NumDigits() <= 18 {
			fast++
		}
	}
	if fast < 50_000 {
		t.Errorf("only %d values on the int64 path: the test does not exercise it", fast)
	}
}

// TestAppendFollowsTheStringOptions: with the decimal package's String
// options changed, Append writes what String then writes.
func TestAppendFollowsTheStringOptions(t *testing.T) {
	defer func(trim, sci bool) { decimal.TrimTrailingZeros, decimal.UseScientificNotation = trim, sci }(
		decimal.TrimTrailingZeros, decimal.UseScientificNotation)
	r := rand.New(rand.NewPCG(3, 4))
	vs := values(r)[:5000]
	for _, opts := range [][2]bool{{false, false}, {true, true}, {false, true}} {
		decimal.TrimTrailingZeros, decimal.UseScientificNotation = opts[0], opts[1]
		for _, d := range vs {
			if got := string(Append(nil, d)); got != d.String() {
				t.Fatalf("trim %v, scientific %v: Append = %q, want %q", opts[0], opts[1], got, d.String())
			}
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	d := decimal.RequireFromString("1234.56")
	buf := make([]byte, 0, 64)
	b.Run("Append", func(b *testing.B) {
		for b.Loop() {
			buf = Append(buf[:0], d)
		}
	})
	b.Run("String", func(b *testing.B) {
		for b.Loop() {
			buf = append(buf[:0], d.String()...)
		}
	})
}
