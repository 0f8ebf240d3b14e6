package dectext

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestAppendFixedIsStringFixed: AppendFixed writes what StringFixed does,
// at the scales the API writes (0 for PTS, 2 for CNY, 4 for rates) and
// around them, for every shape of decimal values() makes and for the
// amounts CNY and PTS hold.
func TestAppendFixedIsStringFixed(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	vs := values(r)
	for _, s := range []string{"0", "0.00", "-0.5", "400", "123.4", "-20.5", "0.01", "-0.01", "1000000000000", "999999999999999999",
		"-999999999999999999", "0.005", "-0.005", "0.004", "12.345", "1e3", "-1e5", "1200.00", "1.50"} {
		vs = append(vs, decimal.RequireFromString(s))
	}
	fast := 0
	for _, d := range vs {
		for _, places := range []int32{0, 1, 2, 3, 4, 8, 18, 19} {
			if got, want := string(AppendFixed([]byte("x"), d, places)), "x"+d.StringFixed(places); got != want {
				t.Fatalf("AppendFixed(%s, exponent %d, %d places) = %q, want %q", d.String(), d.Exponent(), places, got, want)
			}
			if got, want := Fixed(d, places), d.StringFixed(places); got != want {
				t.Fatalf("Fixed(%s, %d) = %q, want %q", d.String(), places, got, want)
			}
			if d.Exponent() <= 0 && d.Exponent() >= -places && places <= 18 && d.NumDigits() <= 18 {
				fast++
			}
		}
	}
	if fast < 20_000 {
		t.Errorf("only %d values on the int64 path: the test does not exercise it", fast)
	}
	for s, want := range map[string]string{"400": "400.00", "123.4": "123.40", "0": "0.00", "-20.5": "-20.50", "1.500": "1.50"} {
		if got := Fixed(decimal.RequireFromString(s), 2); got != want {
			t.Errorf("Fixed(%s, 2) = %q, want %q", s, got, want)
		}
	}
}

func BenchmarkAppendFixed(b *testing.B) {
	d := decimal.RequireFromString("12345.6")
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = AppendFixed(buf[:0], d, 2)
	}
}
