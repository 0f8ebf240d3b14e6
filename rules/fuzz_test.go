package rules

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// FuzzPricing: for any contribution, shipment, refund and deposit, the rules
// never panic and keep their bounds: a level inside its segment, points never
// negative, a take-back within what is unreversed, a rebate within the
// deposit's top rate, a clawback within the rebate.
func FuzzPricing(f *testing.F) {
	f.Add(int64(500000), int64(12345), int64(2345), int64(0), int64(1234567), int64(77777))
	f.Add(int64(0), int64(1), int64(1), int64(0), int64(99999), int64(0))
	f.Add(int64(10000000000), int64(99999999), int64(99999999), int64(5), int64(5000000), int64(40000))
	rs := Default()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, contributionFen, amountFen, refundFen, reversed, depositFen, rebateFen int64) {
		c := decimal.New(abs(contributionFen), -2)
		tier := rs.TierOf(c)
		seg, ok := rs.Segment(tier.Segment)
		if !ok || tier.Level < seg.FirstLevel || tier.Level > seg.LastLevel {
			t.Fatalf("contribution %s: %+v outside its segment", c, tier)
		}
		amount := decimal.New(abs(amountFen)%1e12+1, -2)
		e := rs.EarnShipment(amount, tier, at, nil)
		if e.Points < 0 || e.Volume != e.Points || e.CampaignPoints != 0 {
			t.Fatalf("earning %+v", e)
		}
		refund := decimal.New(abs(refundFen), -2)
		if refund.GreaterThan(amount) {
			refund = amount
		}
		rev := abs(reversed) % (e.Points + 1)
		take := TakeBack(e.Points, amount, decimal.Zero, refund, rev)
		if take < 0 || take > e.Points-rev {
			t.Fatalf("take back %d of %d with %d reversed", take, e.Points, rev)
		}
		deposit := decimal.New(abs(depositFen)%1e14, -2)
		rate, rebate := rs.Rebate(deposit)
		if rebate.IsNegative() || rebate.GreaterThan(deposit.Mul(rate)) || !rebate.Equal(rebate.Truncate(2)) {
			t.Fatalf("deposit %s: rate %s rebate %s", deposit, rate, rebate)
		}
		r := decimal.New(abs(rebateFen), -2)
		w := decimal.Min(refund, deposit)
		if claw := Clawback(r, deposit, w); claw.IsNegative() || claw.GreaterThan(r) || !claw.Equal(claw.Truncate(2)) {
			t.Fatalf("clawback %s of rebate %s", claw, r)
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		if n == -n { // math.MinInt64
			return 0
		}
		return -n
	}
	return n
}
