package decsum

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestSumIsTheChainOfAdds: for runs of 1 to 40 terms (coefficients of 1
// to 22 digits, either sign, some zero, exponents -20 to 20, and runs that
// add up past an int64), a Sum's value has the coefficient and exponent
// of decimal.Decimal{}.Add(t1).Add(t2)..., prints the same, and is zero
// when that is; runs that stay in an int64 and runs that leave it must
// both be common.
func TestSumIsTheChainOfAdds(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 31))
	term := func(maxDigits int) decimal.Decimal {
		n := 1 + r.IntN(maxDigits)
		digits := make([]byte, n)
		for i := range digits {
			digits[i] = byte('0' + r.IntN(10))
		}
		c, _ := new(big.Int).SetString(string(digits), 10)
		if r.IntN(2) == 0 {
			c.Neg(c)
		}
		return decimal.NewFromBigInt(c, int32(r.IntN(41)-20))
	}
	stayed, left := 0, 0
	for run := range 100_000 {
		var s Sum
		var want decimal.Decimal
		maxDigits := []int{4, 12, 18, 22}[run%4]
		for range 1 + r.IntN(40) {
			d := term(maxDigits)
			if run%8 == 1 { // amounts as the ledger adds them: fen and points
				d = decimal.New(d.CoefficientInt64()%1_000_000_000, int32(-2*r.IntN(2)))
			}
			s.Add(d)
			want = want.Add(d)
		}
		got := s.Decimal()
		if got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 || got.String() != want.String() ||
			s.IsZero() != want.IsZero() {
			t.Fatalf("run %d: %s (%s e%d, zero %v), the chain of adds says %s (%s e%d, zero %v)", run, got, got.Coefficient(), got.Exponent(),
				s.IsZero(), want, want.Coefficient(), want.Exponent(), want.IsZero())
		}
		if s.large {
			left++
		} else {
			stayed++
		}
	}
	if stayed < 10_000 || left < 10_000 {
		t.Fatalf("%d runs stayed in an int64 and %d left it: both must be common", stayed, left)
	}
}

// TestSumLeavesAnInt64AtItsEdge: totals one past the largest and the least
// int64, and a rescale that would leave it, move to decimal arithmetic
// with the exact value.
func TestSumLeavesAnInt64AtItsEdge(t *testing.T) {
	d := decimal.RequireFromString
	for _, terms := range [][]decimal.Decimal{
		{d("9223372036854775807"[:18]), d("9223372036854775807"[:18]), d("9223372036854775807"[:18])}, // 3 x 922337203685477580
		{d("922337203685477580"), d("922337203685477580"), d("0.1")},                                  // rescaled past it
		{d("-922337203685477580.7"), d("-922337203685477580.7"), d("-922337203685477580.7"), d("-922337203685477580.7"),
			d("-922337203685477580.7"), d("-922337203685477580.7"), d("-922337203685477580.7"), d("-922337203685477580.7"),
			d("-922337203685477580.7"), d("-922337203685477580.7"), d("-0.2")}, // to MinInt64 - 1 tenths
		{d("100000000000000000"), d("1e-18")},
		{d("5"), d("-5"), d("0.000")},
	} {
		var s Sum
		var want decimal.Decimal
		for _, x := range terms {
			s.Add(x)
			want = want.Add(x)
		}
		if got := s.Decimal(); got.Exponent() != want.Exponent() || got.Coefficient().Cmp(want.Coefficient()) != 0 {
			t.Errorf("%v: %s e%d, the chain of adds says %s e%d", terms, got.Coefficient(), got.Exponent(), want.Coefficient(), want.Exponent())
		}
	}
}

// BenchmarkSum adds 1,000 amounts in fen.
func BenchmarkSum(b *testing.B) {
	terms := make([]decimal.Decimal, 1000)
	for i := range terms {
		terms[i] = decimal.New(int64(i*7919%100_000), -2)
	}
	b.ReportAllocs()
	for b.Loop() {
		var s Sum
		for _, t := range terms {
			s.Add(t)
		}
		_ = s.Decimal()
	}
}

// TestUnitsCountsWholeUnitsThatFit: d in units of 10^exp, declined when not
// whole, past 18 digits of coefficient, or past an int64.
func TestUnitsCountsWholeUnitsThatFit(t *testing.T) {
	for _, tc := range []struct {
		amount string
		exp    int32
		n      int64
		ok     bool
	}{
		{"12.34", -2, 1234, true}, {"12.340", -2, 1234, true}, {"12.345", -2, 0, false}, {"-7", 0, -7, true},
		{"7.5", 0, 0, false}, {"1.2345", -4, 12345, true}, {"1200", 2, 12, true}, {"1250", 2, 0, false},
		{"9223372036854775.807", -3, 0, false}, // 19 digits: declined
		{"922337203685477580", 0, 922337203685477580, true}, {"92233720368547758", -2, 9223372036854775800, true},
		{"92233720368547759", -2, 0, false}, {"1e-30", -2, 0, false}, {"0e-30", -2, 0, true}, {"0e30", -2, 0, true},
	} {
		n, ok := Units(decimal.RequireFromString(tc.amount), tc.exp)
		if n != tc.n || ok != tc.ok {
			t.Errorf("Units(%s, %d) = %d, %v; want %d, %v", tc.amount, tc.exp, n, ok, tc.n, tc.ok)
		}
	}
	// Exponents whose difference leaves an int32 (helper-152: the index
	// of the power of ten wrapped and Units panicked).
	for _, tc := range []struct {
		coefficient int64
		exp, units  int32
	}{{1, math.MaxInt32 - 1, -2}, {1, math.MaxInt32, -1}, {7, math.MaxInt32 - 2, -3}, {1, math.MinInt32, 2}, {0, math.MinInt32, 1}} {
		n, ok := Units(decimal.New(tc.coefficient, tc.exp), tc.units)
		if n != 0 || ok != (tc.coefficient == 0) {
			t.Errorf("Units(%de%d, %d) = %d, %v; want 0, %v", tc.coefficient, tc.exp, tc.units, n, ok, tc.coefficient == 0)
		}
	}
}
