package loyalty_test

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Strings for the checks: every length from 0 to past the longest bound,
// of bytes drawn from the class's edges and beyond (every byte value, the
// neighbours of each range's ends, multi-byte UTF-8), so that each bound
// and each edge of a class is crossed.
func samples(r *rand.Rand, n int) []string {
	edges := []byte{0, '\t', '\n', ' ', '!', '"', '+', ',', '-', '.', '/', '0', '9', ':', ';', '@', 'A', 'Z', '[',
		'_', '`', 'a', 'z', '{', '~', 0x7f, 0x80, 0xc3, 0xa9, 0xff}
	var out []string
	for range n {
		b := make([]byte, r.IntN(140))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = edges[r.IntN(len(edges))]
			}
		}
		out = append(out, string(b))
		// the same length of plain letters too: most random strings hold a
		// byte outside every class, and say nothing of the length bounds
		plain := make([]byte, len(b))
		for i := range plain {
			plain[i] = "aZ09"[r.IntN(4)]
		}
		out = append(out, string(plain))
	}
	return out
}

// The ids' checks are their regular expressions (a customer id, besides,
// is not . or ..), on 40,000 strings each and the dots.
func TestIDChecksAreTheirPatterns(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 33))
	cases := []struct {
		name    string
		pattern *regexp.Regexp
		check   func(string) bool
	}{
		{"customer id", regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`), ledger.ValidCustomerID},
		{"shipment id", regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`), loyalty.ValidShipmentID},
		{"event id", regexp.MustCompile(`^[\x21-\x7e]{1,128}$`), loyalty.ValidEventID},
	}
	for _, c := range cases {
		matched := 0
		for _, s := range append(samples(r, 20000), ".", "..", "...") {
			want := c.pattern.MatchString(s)
			if c.name == "customer id" && (s == "." || s == "..") {
				want = false // no URL path can carry them (ledger.DotSegment)
			}
			if got := c.check(s); got != want {
				t.Errorf("%s %q: %v, the pattern says %v", c.name, s, got, want)
			}
			if want {
				matched++
			}
		}
		if matched < 1000 {
			t.Errorf("%s: only %d of the strings matched: the test says little of what passes", c.name, matched)
		}
	}
}
