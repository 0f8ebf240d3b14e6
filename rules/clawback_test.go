package rules

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// TestClawbackNeverFavoursSplitting: for random principals and rebates, a
// random total withdrawn in one withdrawal and, from the same balances, cut
// at random into 1 to 20 withdrawals: the split never leaves more rebate
// than the single withdrawal, and never more than a fen per further
// withdrawal less. Every clawback is a whole number of fen between zero and
// the rebate held. The seed is in every failure.
func TestClawbackNeverFavoursSplitting(t *testing.T) {
	const trials = 20000
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 12))
	// fen is a random amount in fen, 1 to 10^9 (10,000,000.00 CNY), spread
	// evenly over its orders of magnitude so that tiny rebates and
	// principals, where a withdrawal's share is a fraction of a fen, come up
	// as often as large ones.
	fen := func() int64 { return 1 + rng.Int64N(pow10(1+rng.IntN(9))) }
	fenOf := func(n int64) decimal.Decimal { return decimal.New(n, -2) }
	kept, cheaper := 0, 0
	for trial := range trials {
		principal0 := fen()
		rebate0 := fen()
		if rng.IntN(8) == 0 {
			rebate0 = 0
		}
		total := 1 + rng.Int64N(principal0) // 0.01 up to all the principal
		if rng.IntN(8) == 0 {
			total = principal0
		}
		k := 1 + rng.IntN(20)
		k = int(min(int64(k), total)) // every withdrawal is at least a fen
		pieces := split(rng, total, k)

		single := Clawback(fenOf(rebate0), fenOf(principal0), fenOf(total))
		singleLeft := fenOf(rebate0).Sub(single)

		principal, rebate := fenOf(principal0), fenOf(rebate0)
		for i, p := range pieces {
			w := fenOf(p)
			c := Clawback(rebate, principal, w)
			if c.IsNegative() || c.GreaterThan(rebate) || !c.Equal(c.Truncate(2)) {
				t.Fatalf("seed %d, trial %d: withdrawal %d of %s from principal %s with rebate %s claws back %s",
					seed, trial, i+1, w, principal, rebate, c)
			}
			principal, rebate = principal.Sub(w), rebate.Sub(c)
		}
		if rebate.GreaterThan(singleLeft) {
			t.Fatalf("seed %d, trial %d: principal %s, rebate %s: %d withdrawals (in fen: %v) of %s in all leave rebate %s, one withdrawal leaves %s",
				seed, trial, fenOf(principal0), fenOf(rebate0), k, pieces, fenOf(total), rebate, singleLeft)
		}
		if lowest := singleLeft.Sub(fenOf(int64(k - 1))); rebate.LessThan(lowest) {
			t.Fatalf("seed %d, trial %d: principal %s, rebate %s: %d withdrawals (in fen: %v) of %s in all leave rebate %s, below one withdrawal's %s less a fen for each further one",
				seed, trial, fenOf(principal0), fenOf(rebate0), k, pieces, fenOf(total), rebate, singleLeft)
		}
		if k > 1 && rebate.Equal(singleLeft) {
			kept++
		} else if rebate.LessThan(singleLeft) {
			cheaper++
		}
	}
	t.Logf("seed %d: of %d trials, %d splits left the same rebate as one withdrawal, %d less", seed, trials, kept, cheaper)
}

// split cuts total (fen) into k pieces of at least a fen each, at k-1
// distinct random points.
func split(rng *rand.Rand, total int64, k int) []int64 {
	cuts := map[int64]bool{}
	for len(cuts) < k-1 {
		cuts[1+rng.Int64N(total-1)] = true
	}
	points := []int64{0, total}
	for c := range cuts {
		points = append(points, c)
	}
	slices.Sort(points)
	pieces := make([]int64, k)
	for i := range pieces {
		pieces[i] = points[i+1] - points[i]
	}
	return pieces
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
