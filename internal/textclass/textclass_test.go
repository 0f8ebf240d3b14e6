package textclass_test

import (
	"regexp"
	"testing"
	"unicode"

	"github.com/tally-ledger/tally/internal/textclass"
)

// A class of ranges and extra bytes matches what the same bracket
// expression matches, at every length bound.
func TestMatchIsTheBracketExpression(t *testing.T) {
	c := textclass.Of("_-", "az", "09")
	re := regexp.MustCompile(`^[a-z0-9_-]{2,5}$`)
	for _, s := range []string{"", "a", "ab", "a_-9z", "abcdef", "A1", "a b", "é1", "a\n", "-_", "09az_"} {
		if got, want := c.Match(s, 2, 5), re.MatchString(s); got != want {
			t.Errorf("%q: %v, the pattern says %v", s, got, want)
		}
	}
}

// TestIsPlainRefusesWhatDoesNotShowAsItself holds IsPlain, on every code
// point alone and between letters, to the list written out here: the C0
// and C1 controls and DEL, the bidirectional controls Unicode names (ALM,
// LRM, RLM, LRE to RLO, LRI to PDI), and the line and paragraph separators.
func TestIsPlainRefusesWhatDoesNotShowAsItself(t *testing.T) {
	refused := func(r rune) bool {
		switch {
		case r <= 0x1f, r >= 0x7f && r <= 0x9f:
			return true
		case r == 0x61c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return true
		case r == 0x2028, r == 0x2029:
			return true
		}
		return false
	}
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // not a character: string(r) is U+FFFD
		}
		want := !refused(r)
		if got := textclass.IsPlain(string(r)); got != want {
			t.Fatalf("textclass.IsPlain(%U) = %v, want %v", r, got, want)
		}
		if got := textclass.IsPlain("a" + string(r) + "b"); got != want {
			t.Fatalf("textclass.IsPlain(a %U b) = %v, want %v", r, got, want)
		}
		if !want {
			n++
		}
	}
	if n != 32+33+12+2 {
		t.Fatalf("%d code points refused, want 79", n)
	}
	for _, s := range []string{"", "退款 refund 0001", "👨\u200d👩\u200d👧 family", "\xff"} {
		if got, want := textclass.IsPlain(s), s != "\xff"; got != want {
			t.Errorf("textclass.IsPlain(%q) = %v, want %v", s, got, want)
		}
	}
}
