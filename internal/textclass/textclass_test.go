package textclass_test

import (
	"regexp"
	"testing"

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
