package loyalty_test

import (
	"testing"
	"time"

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
