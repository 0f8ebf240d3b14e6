package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/rules"
)

// A version with no expiry notice lead times announces no points expiring.
func TestNoLeadTimesNoExpiringNotices(t *testing.T) {
	e := newEnv(t)
	rs := rules.Default()
	rs.ExpiryNoticeDays = []int{}
	rs.EffectiveFrom = servicetest.Start.Add(time.Hour)
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	due30 := c1Expires.Add(-30 * day)
	e.Clock.Set(due30)
	if rep := e.runNotices(due30); rep.PointsExpiring != 0 {
		t.Errorf("%d expiring notices, want none", rep.PointsExpiring)
	}
}

// A downgrade at a turn where a new version starts is from the tier by the
// rules of the month before to the tier by the new rules: 5,000 CNY in
// March (after 100 in February) is mid L11 under the defaults; from 1 April
// a version whose mid segment starts at 5,001 makes it regular L8 (4 +
// floor(4,700 × 5 / 4,701)), and the turn into April announces mid L11 ->
// regular L8.
func TestADowngradeAtAVersionsStartIsFromTheTierOfTheRulesBefore(t *testing.T) {
	e := newEnv(t)
	turn := time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai)
	rs := rules.Default()
	rs.Segments[2].Min = money.Of(d("5001"))
	rs.EffectiveFrom = turn
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	e.Customer("C1")
	e.Ship("C1", "S0", "100", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai))
	e.Ship("C1", "S1", "5000", march(2, 9))
	e.Clock.Set(turn)
	if rep := e.runNotices(turn); rep.TierDowngrades != 1 {
		t.Fatalf("at the turn: %d downgrades, want 1", rep.TierDowngrades)
	}
	n := e.downgrades()[0]
	from, _ := n.Payload["from"].(map[string]any)
	to, _ := n.Payload["to"].(map[string]any)
	if n.Customer != "C1" || n.Payload["month"] != "2026-04" || !n.OccurredAt.Equal(turn) ||
		from["segment"] != "mid" || from["level"] != float64(11) || to["segment"] != "regular" || to["level"] != float64(8) {
		t.Errorf("notice %+v, want C1 from mid L11 to regular L8 in 2026-04 at %s", n, turn)
	}
}
