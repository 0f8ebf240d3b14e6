package loyalty_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/rules"
)

// A shipment that earns no points still raises the tier: 299.50 CNY takes
// a new customer from floating L1 to L3; 0.60 CNY more earns floor(0.60) =
// 0 points (no entry) and makes 300.10, regular L4 (DOMAIN.md), and
// partners hear of that upgrade too.
func TestShipmentOfNoPointsAnnouncesTheTierItRaises(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "299.50", march(2, 9))
	res := e.Ship("C1", "S2", "0.60", march(3, 9))
	if res.EntryID != nil || res.Points != 0 {
		t.Fatalf("a shipment of 0.60: entry %v, %d points; want no entry, no points", res.EntryID, res.Points)
	}
	var ups []notice
	for _, n := range e.noticesOf("customer.tier_changed") {
		if n.Payload["direction"] == "up" {
			ups = append(ups, n)
		}
	}
	if len(ups) != 2 {
		t.Fatalf("%d upgrades announced, want 2 (to L3, then to L4): %+v", len(ups), ups)
	}
	n := ups[1]
	from, _ := n.Payload["from"].(map[string]any)
	to, _ := n.Payload["to"].(map[string]any)
	if n.Customer != "C1" || !n.OccurredAt.Equal(march(3, 9)) || n.Payload["month"] != "2026-03" ||
		from["segment"] != "floating" || from["level"] != float64(3) || to["segment"] != "regular" || to["level"] != float64(4) {
		t.Errorf("notice %+v, want C1 up from floating L3 to regular L4 in 2026-03 at %s", n, march(3, 9))
	}
}

// A referee's shipment that earns no points of its own but pays their
// referrer's bonus announces the bonus only: with a version whose referral
// needs a shipment of 0.50 CNY, 0.60 CNY earns floor(0.60) = 0 points and
// qualifies, so the referrer is told of their 500 points and the referee of
// nothing earned.
func TestShipmentOfNoPointsPayingAReferralAnnouncesOnlyTheBonus(t *testing.T) {
	e := referrerAndReferee(t, func(rs *rules.RuleSet) { rs.Referral.MinShipment = money.Of(d("0.50")) })
	res := e.Ship("E", "S1", "0.60", servicetest.Start.Add(90*time.Minute))
	if res.EntryID == nil || res.Points != 0 || res.Referral == nil || res.Referral.Points != 500 {
		t.Fatalf("the referee's shipment: %+v; want an entry, no points of its own, a bonus of 500", res)
	}
	got := e.pointsEarnedAnnounced()
	if want := []string{"R referral 500"}; !slices.Equal(got, want) {
		t.Errorf("points earned announced: %q, want %q", got, want)
	}
}

// A referral bonus of no points (a version whose bonus is 0) is not
// announced: the referee hears of their 100 points, the referrer of nothing.
func TestReferralOfNoPointsIsNotAnnounced(t *testing.T) {
	e := referrerAndReferee(t, func(rs *rules.RuleSet) { rs.Referral.Bonus = 0 })
	res := e.Ship("E", "S1", "100", servicetest.Start.Add(90*time.Minute))
	if res.EntryID == nil || res.Points != 100 || res.Referral == nil || res.Referral.Points != 0 {
		t.Fatalf("the referee's shipment: %+v; want an entry, 100 points, a bonus of 0", res)
	}
	got := e.pointsEarnedAnnounced()
	if want := []string{"E volume 100"}; !slices.Equal(got, want) {
		t.Errorf("points earned announced: %q, want %q", got, want)
	}
}

// referrerAndReferee is a book with referrer R and referee E, under the
// default rules changed by change from an hour after the start, two hours
// in.
func referrerAndReferee(t *testing.T, change func(*rules.RuleSet)) *env {
	t.Helper()
	e := newEnv(t)
	rs := rules.Default()
	change(&rs)
	rs.EffectiveFrom = servicetest.Start.Add(time.Hour)
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	e.Clock.Add(2 * time.Hour)
	e.Customer("R")
	e.Customer("E", "R")
	return e
}

// pointsEarnedAnnounced is each points.earned notice as "customer channel
// points", in feed order.
func (e *env) pointsEarnedAnnounced() []string {
	var got []string
	for _, n := range e.noticesOf("points.earned") {
		got = append(got, fmt.Sprintf("%s %v %v", n.Customer, n.Payload["channel"], n.Payload["points"]))
	}
	return got
}
