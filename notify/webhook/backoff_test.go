package webhook_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/notify/webhook"
)

// TestFullJitterSpreadsEachRetryOverItsWholeWindow: retry n waits between 0
// and 5 s × 2^(n-1), at most 6 hours, never more nor less, and uses the
// whole window (of 1000 draws one is in its top tenth and one in its
// bottom tenth: the chance that a correct implementation misses either is
// under 10^-45).
func TestFullJitterSpreadsEachRetryOverItsWholeWindow(t *testing.T) {
	for _, c := range []struct {
		attempt int
		ceiling time.Duration
	}{{1, 5 * time.Second}, {2, 10 * time.Second}, {5, 80 * time.Second}, {13, 6 * time.Hour}, {1000, 6 * time.Hour}} {
		var low, high bool
		for range 1000 {
			d := webhook.FullJitter(c.attempt)
			if d < 0 || d > c.ceiling {
				t.Fatalf("attempt %d waits %v, outside [0, %v]", c.attempt, d, c.ceiling)
			}
			low = low || d < c.ceiling/10
			high = high || d > c.ceiling*9/10
		}
		if !low || !high {
			t.Errorf("attempt %d: 1000 waits never in the bottom (%v) or top (%v) tenth of [0, %v]", c.attempt, low, high, c.ceiling)
		}
	}
}
