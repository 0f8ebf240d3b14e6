package rules

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/pricemodel"
)

// FuzzPricing: for any contributions, shipment, campaigns, refund, instant,
// deposit and withdrawal, the rules price exactly as the independent model
// of the rules does: tier, tier in effect, volume and campaign points, the
// take-back, the lot's expiry, the rebate and the clawback.
func FuzzPricing(f *testing.F) {
	f.Add(int64(500000), int64(12345), int64(12345), int64(0), int64(2345), int64(0), int64(1234567), int64(49382), int64(250000), uint32(0x2710_4e20), int32(600), uint8(20))
	// Segment thresholds (in fen: 300, 2,000, 10,000, 100,000 CNY and a fen
	// below); a take-back of exactly .5 (2 points on 2.00, 0.50 refunded);
	// a campaign's first instant, the minute before it and its end; rebate
	// thresholds and a fen below; a clawback of exactly half a fen (0.01 *
	// 1.00 / 2.00); 0.99 CNY earning floor(0.99) = 0 points; a referee's
	// shipment of exactly the referral minimum (the month's 20th bonus) and
	// of a fen less.
	f.Add(int64(29999), int64(30000), int64(200), int64(0), int64(50), int64(0), int64(99999), int64(1), int64(100), uint32(1), int32(0), uint8(19))
	f.Add(int64(199999), int64(200000), int64(200), int64(50), int64(50), int64(1), int64(100000), int64(1), int64(100), uint32(5000), int32(-1), uint8(128))
	f.Add(int64(999999), int64(1000000), int64(1001), int64(0), int64(1001), int64(0), int64(200), int64(1), int64(100), uint32(0x0001_0001), int32(14400), uint8(0))
	f.Add(int64(9999999), int64(10000000), int64(12345), int64(0), int64(6172), int64(0), int64(500000), int64(3), int64(200), uint32(0xffff_ffff), int32(7200), uint8(21))
	f.Add(int64(0), int64(19999999), int64(99999999), int64(99999998), int64(1), int64(5), int64(4999999), int64(400), int64(1000), uint32(0x0001_0000), int32(-7200), uint8(63))
	f.Add(int64(0), int64(0), int64(99), int64(0), int64(99), int64(0), int64(100000), int64(2000), int64(50000), uint32(0), int32(0), uint8(1))
	f.Add(int64(0), int64(0), int64(5000), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), uint32(0), int32(0), uint8(19))
	f.Add(int64(0), int64(0), int64(4999), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), uint32(0), int32(0), uint8(0))
	f.Add(int64(-9223372036854775808), int64(9223372036854775807), int64(-1), int64(9223372036854775807), int64(-9223372036854775808), int64(1), int64(1), int64(1), int64(-1), uint32(7), int32(-2147483648), uint8(255))
	rs := Default()
	model := pricemodel.Default()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, rs.Location())
	f.Fuzz(func(t *testing.T, lastFen, thisFen, amountFen, refundedFen, refundFen, reversed, depositFen, rebateFen, withdrawFen int64,
		campaigns uint32, minutes int32, referral uint8) {
		last, this := decimal.New(abs(lastFen), -2), decimal.New(abs(thisFen), -2)
		for _, c := range []decimal.Decimal{last, this} {
			if got, want := rs.TierOf(c), model.TierOf(c); got.Segment != want.Segment || got.Level != want.Level {
				t.Fatalf("contribution %s: %+v, the model says %+v", c, got, want)
			}
		}
		tier, _ := rs.TierInEffect(last, this)
		if want := model.TierInEffect(last, this); tier.Segment != want.Segment || tier.Level != want.Level {
			t.Fatalf("last %s this %s: tier %+v, the model says %+v", last, this, tier, want)
		}

		// Two campaigns, one for every segment over the first ten days of
		// March, one for mid and vip from the 5th to the 20th, multipliers
		// from 1 to 7.5535; the shipment within a year either side.
		at := base.Add(time.Duration(minutes%(366*24*60)) * time.Minute)
		active := []Campaign{
			{ID: "all", StartsAt: base, EndsAt: base.AddDate(0, 0, 10), Multiplier: decimal.New(10000+int64(campaigns&0xffff), -4)},
			{ID: "some", StartsAt: base.AddDate(0, 0, 4), EndsAt: base.AddDate(0, 0, 19), Multiplier: decimal.New(10000+int64(campaigns>>16), -4),
				Segments: []string{"mid", "vip"}},
		}
		var modelCampaigns []pricemodel.Campaign
		for _, c := range active {
			modelCampaigns = append(modelCampaigns, pricemodel.Campaign{ID: c.ID, From: c.StartsAt, Until: c.EndsAt, Multiplier: c.Multiplier, Segments: c.Segments})
		}
		amount := decimal.New(max(1, abs(amountFen)%1e12), -2)
		e := rs.EarnShipment(amount, tier, at, active)
		want := model.Earn(amount, tier.Segment, at, modelCampaigns)
		campaign := ""
		if e.Campaign != nil {
			campaign = *e.Campaign
		}
		if e.Volume != want.Volume || e.CampaignPoints != want.CampaignPoints || e.Points != want.Points || campaign != want.Campaign ||
			!e.Multiplier.Equal(want.Multiplier) || !e.CampaignMultiplier.Equal(want.CampaignMultiplier) {
			t.Fatalf("%s by %+v at %s: %+v (campaign %q), the model says %+v", amount, tier, at, e, campaign, want)
		}

		// The referrer's bonus: already decided for the referee (the top bit)
		// or not, with 0 to 63 bonuses paid in the month (the cap is 20).
		decided, paid := referral&0x80 != 0, int(referral&0x3f)
		outcome, points, availableAt := rs.ReferralFor(amount, at, ReferralState{HasReferrer: true, AlreadyQualified: decided, PaidThisMonth: paid})
		wantStatus, wantPoints := model.Referral(amount, decided, paid)
		if string(outcome) != wantStatus || points != wantPoints || (outcome != ReferralNone && !availableAt.Equal(model.PendingUntil(at))) {
			t.Fatalf("a referee's %s at %s, decided %v, %d paid: %q %d until %s, the model says %q %d until %s", amount, at, decided, paid,
				outcome, points, availableAt, wantStatus, wantPoints, model.PendingUntil(at))
		}

		// A refund after earlier ones, with any amount already reversed.
		before := decimal.New(abs(refundedFen)%(amount.Shift(2).IntPart()+1), -2)
		refund := decimal.New(abs(refundFen)%(amount.Sub(before).Shift(2).IntPart()+1), -2)
		rev := abs(reversed) % (e.Points + 1)
		if got, want := TakeBack(e.Points, amount, before, refund, rev), pricemodel.TakeBack(e.Points, amount, before.Add(refund), rev); got != want {
			t.Fatalf("%d points on %s, %s refunded then %s, %d reversed: take back %d, the model says %d", e.Points, amount, before, refund, rev, got, want)
		}

		if got, want := rs.ExpiresAt(at), model.ExpiresAt(at); !got.Equal(want) {
			t.Fatalf("earned %s: expires %s, the model says %s", at, got, want)
		}

		deposit := decimal.New(abs(depositFen)%1e14, -2)
		rate, rebate := rs.Rebate(deposit)
		if wantRate, wantRebate := model.Rebate(deposit); !rate.Equal(wantRate) || !rebate.Equal(wantRebate) {
			t.Fatalf("deposit %s: rate %s rebate %s, the model says %s and %s", deposit, rate, rebate, wantRate, wantRebate)
		}
		r := decimal.New(abs(rebateFen)%1e14, -2)
		w := decimal.New(abs(withdrawFen)%(deposit.Shift(2).IntPart()+1), -2)
		if got, want := Clawback(r, deposit, w), pricemodel.Clawback(r, deposit, w); !got.Equal(want) {
			t.Fatalf("rebate %s, principal %s, withdraw %s: clawback %s, the model says %s", r, deposit, w, got, want)
		}
	})
}

// FuzzTakeBack: however a shipment's refunds are split, the points taken
// back after each refund add up to exactly round_half_up(earned * refunded
// so far / amount): never more than the shipment earned, never less than
// zero on any refund, and all of it once the whole amount is refunded.
// splits says how each refund cuts what is left (1..256/256 of it, at least
// a fen); full refunds the rest at the end.
func FuzzTakeBack(f *testing.F) {
	f.Add(int64(148), int64(12345), []byte{48}, true) // the domain's 23.45 of 123.45, then the rest
	f.Add(int64(1), int64(200), []byte{127}, true)    // 0.5 -> 1, then 0
	f.Add(int64(3), int64(200), []byte{63, 85, 127}, true)
	f.Add(int64(7), int64(3), []byte{0, 0, 0}, false)
	f.Add(int64(999999999), int64(100000000000), []byte{1, 2, 3, 250, 7, 0, 128}, false)
	f.Add(int64(0), int64(1), []byte{255}, true)
	f.Fuzz(func(t *testing.T, earned, amountFen int64, splits []byte, full bool) {
		earned = abs(earned) % 1e12
		amountFen = abs(amountFen)%1e13 + 1
		amount := decimal.New(amountFen, -2)
		var refunds []int64 // fen
		left := amountFen
		for _, b := range splits {
			if left == 0 {
				break
			}
			cut := max(1, left*(int64(b)+1)/256)
			refunds = append(refunds, cut)
			left -= cut
		}
		if full && left > 0 {
			refunds = append(refunds, left)
			left = 0
		}
		var reversed int64
		refunded := decimal.Zero
		for i, fen := range refunds {
			refund := decimal.New(fen, -2)
			take := TakeBack(earned, amount, refunded, refund, reversed)
			if take < 0 {
				t.Fatalf("refund %d (%s of %s): takes back %d", i, refund, amount, take)
			}
			refunded = refunded.Add(refund)
			reversed += take
			if due := pricemodel.TakeBack(earned, amount, refunded, 0); reversed != due || reversed > earned {
				t.Fatalf("%d points on %s: after %d refunds totalling %s, %d taken back; round_half_up gives %d",
					earned, amount, i+1, refunded, reversed, due)
			}
		}
		if left == 0 && reversed != earned {
			t.Fatalf("%d points on %s refunded in full in %d parts: %d taken back", earned, amount, len(refunds), reversed)
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
