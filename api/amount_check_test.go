package api

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// isAmount is the pattern it replaced, on 200,000 strings built of an
// amount's pieces (signs, zeros, digits, points, exponents, spaces) at
// every length around its bounds, and on the edges written out.
func TestIsAmountIsItsPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,8})?$`)
	pieces := []string{"-", "0", "1", "9", "5", ".", "00", "123456789", "e", "+", " ", "-0", "\n", "٣"}
	r := rand.New(rand.NewPCG(7, 11))
	check := func(s string) {
		if got, want := isAmount(s), pattern.MatchString(s); got != want {
			t.Errorf("isAmount(%q) = %v, the pattern says %v", s, got, want)
		}
	}
	matched := 0
	for range 200000 {
		s := ""
		for n := r.IntN(8); n >= 0; n-- {
			s += pieces[r.IntN(len(pieces))]
		}
		check(s)
		if pattern.MatchString(s) {
			matched++
		}
	}
	if matched < 5000 {
		t.Errorf("only %d of the strings were amounts: the test says little of what passes", matched)
	}
	for _, s := range []string{"", "-", ".", "-.", "0", "-0", "00", "01", "0.", ".5", "0.5", "1.123456789", "1.12345678",
		"123456789012345678", "1234567890123456789", "-123456789012345678.12345678", "1e5", "+1", " 1", "1 ", "1..2", "1.2.3", "--1"} {
		check(s)
	}
}
