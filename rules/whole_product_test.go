package rules

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestWholeProductIsDecimalArithmetic: the product of any factors, its
// fraction dropped, is what decimal arithmetic gives (floorDiv by one),
// whether the 64-bit path answers it or falls back: coefficients of 1 to
// 22 digits either sign, exponents from -22 to 22, two to four factors.
// Both paths must be taken often, or the test proves nothing.
func TestWholeProductIsDecimalArithmetic(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 16))
	factor := func() decimal.Decimal {
		// A coefficient of 1 to 22 digits (an int64 holds 18 of any value,
		// 19 of some), the first one 1 to 9.
		n := 1 + r.IntN(22)
		digits := make([]byte, n)
		for i := range digits {
			digits[i] = byte('0' + r.IntN(10))
		}
		digits[0] = byte('1' + r.IntN(9))
		c, _ := new(big.Int).SetString(string(digits), 10)
		d := decimal.NewFromBigInt(c, int32(r.IntN(45)-22))
		switch r.IntN(5) {
		case 0:
			return d.Neg()
		case 1:
			return decimal.Zero
		}
		return d
	}
	d := decimal.RequireFromString
	edges := [][]decimal.Decimal{ // products at 2^63, one past an int64, either sign
		{d("4611686018427387904"), d("2"), d("0.1")},
		{d("-4611686018427387904"), d("2"), d("0.1")},
		{d("4611686018427387904"), d("-2"), d("0.01")},
		{d("922337203685477580.7"), d("10")},
		{d("999999999999999999"), d("0.00000000000000000001")},
	}
	fast, slow := 0, 0
	for k := range 200_000 {
		fs := make([]decimal.Decimal, 2+r.IntN(3))
		for i := range fs {
			fs[i] = factor()
		}
		if k < len(edges) {
			fs = edges[k]
		}
		want := one
		for _, f := range fs {
			want = want.Mul(f)
		}
		want = floorDiv(want, one)
		if want.NumDigits() > 18 {
			continue // not an int64: no caller's answer
		}
		if _, ok := wholeProduct64(fs); ok {
			fast++
		} else {
			slow++
		}
		if got := wholeProduct(fs...); got != want.IntPart() {
			t.Fatalf("%v: %d, decimal arithmetic says %s", fs, got, want)
		}
	}
	if fast < 10_000 || slow < 10_000 {
		t.Fatalf("the 64-bit path answered %d products and decimal arithmetic %d: both must be tried", fast, slow)
	}
}

// TestShipmentsOfTheDefaultRulesArePricedIn64Bits: the largest amount an
// event may carry (1,000,000,000 CNY), under the default rules' largest
// multiplier and a campaign's of four decimals, takes the 64-bit path
// (the allocations it saves are per event); larger factors may fall back.
func TestShipmentsOfTheDefaultRulesArePricedIn64Bits(t *testing.T) {
	rs := Default()
	amount, campaign := decimal.RequireFromString("999999999.99"), decimal.RequireFromString("9.9999")
	for _, s := range rs.Segments {
		if _, ok := wholeProduct64([]decimal.Decimal{amount, rs.PointsPerCNY, s.Multiplier, campaign}); !ok {
			t.Errorf("a shipment of %s at x%s x%s (%s) fell back to decimal arithmetic", amount, s.Multiplier, campaign, s.Code)
		}
	}
}
