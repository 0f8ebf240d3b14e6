package rules

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/money"
)

// TestTierOfFenIsTierOf: the int64 fast path of TierOf answers what the
// decimal arithmetic answers, and is taken, over random contributions
// (whole fen, near and on every threshold, negative, huge, finer than a
// fen, with trailing zeros) and random segment layouts; inputs it cannot
// take fall back.
func TestTierOfFenIsTierOf(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 1))
	sets := []RuleSet{Default()}
	for range 200 {
		rs := Default()
		lo := int64(r.IntN(3)) * 1000 // fen
		for i := range rs.Segments {
			rs.Segments[i].Min = money.Of(decimal.New(lo, -2))
			lo += 1 + r.Int64N(5_000_000)
			first := 1
			if i > 0 {
				first = rs.Segments[i-1].LastLevel + 1
			}
			rs.Segments[i].FirstLevel, rs.Segments[i].LastLevel = first, first+r.IntN(12)
		}
		rs.Segments[len(rs.Segments)-1].LevelStep = money.Of(decimal.New(1+r.Int64N(1_000_000), -int32(r.IntN(3))))
		sets = append(sets, rs)
	}
	fast := 0
	for _, rs := range sets {
		for range 500 {
			var c decimal.Decimal
			switch r.IntN(7) {
			case 0: // on or next to a segment's bound
				s := rs.Segments[r.IntN(len(rs.Segments))]
				c = s.Min.Add(decimal.New(int64(r.IntN(3)-1), -2))
			case 6: // on or next to a level of the open-ended last segment
				s := rs.Segments[len(rs.Segments)-1]
				c = s.Min.Add(s.LevelStep.Mul(decimal.NewFromInt(int64(r.IntN(15))))).Add(decimal.New(int64(r.IntN(3)-1), -2))
			case 1:
				c = decimal.New(-r.Int64N(100_000), -2)
			case 2: // finer than a fen, or with trailing zeros
				c = decimal.New(r.Int64N(100_000_000), -int32(3+r.IntN(3)))
			case 3: // huge
				c = decimal.New(r.Int64N(1<<62), int32(r.IntN(6)))
			default:
				c = decimal.New(r.Int64N(10_000_000_000), -int32(r.IntN(3)))
			}
			want := rs.tierOfDecimal(c)
			got, ok := rs.tierOfFen(c)
			if ok {
				fast++
				if got != want {
					t.Fatalf("c=%s, segments %+v: fast %+v, decimal %+v", c, rs.Segments, got, want)
				}
			}
			if got := rs.TierOf(c); got != want {
				t.Fatalf("c=%s: TierOf %+v, decimal %+v", c, got, want)
			}
		}
	}
	if fast < 50_000 { // of 100,500: whole fen below 10^15 take it (about 70%)
		t.Errorf("the fast path answered %d of %d", fast, len(sets)*500)
	}
}
