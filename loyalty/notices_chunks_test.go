package loyalty_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/loyalty"
)

// The notice jobs write a chunk at a time and read on past a full one: with
// NoticeChunk + 1 customers who each went down at the turn into March (mid
// L11 in January on 5,000 CNY, 299 in February: floating L3) and whose
// January points expire on 1 February 2027, every customer hears of both;
// and as each was referred (by one of 26 referrers, 20 each at most: the
// monthly cap), NoticeChunk + 1 referral bonuses are announced available.
func TestNoticesReachEveryCustomerPastAFullChunk(t *testing.T) {
	e := newEnv(t)
	const n = loyalty.NoticeChunk + 1
	jan, feb := time.Date(2026, 1, 20, 10, 0, 0, 0, shanghai), time.Date(2026, 2, 10, 10, 0, 0, 0, shanghai)
	var ships []loyalty.Event
	for r := range (n + 19) / 20 {
		e.Customer(fmt.Sprintf("R%02d", r))
	}
	for i := range n {
		c := fmt.Sprintf("C%04d", i)
		e.Customer(c, fmt.Sprintf("R%02d", i/20))
		ships = append(ships, e.Event(loyalty.ShipmentCompleted, c, c+"-jan", "5000", jan),
			e.Event(loyalty.ShipmentCompleted, c, c+"-feb", "299", feb))
	}
	for len(ships) > 0 {
		batch := ships[:min(500, len(ships))]
		for _, o := range e.ProcessBatch(e.Key, batch) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		ships = ships[len(batch):]
	}

	turn := time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai)
	if rep := e.runNotices(turn); rep.TierDowngrades != n || rep.ReferralBonusesAvailable != n {
		t.Errorf("at the turn: %d downgrades, %d bonuses available; want %d of each", rep.TierDowngrades,
			rep.ReferralBonusesAvailable, n)
	}
	due30 := time.Date(2027, 2, 1, 0, 0, 0, 0, shanghai).Add(-30 * day)
	e.Clock.Set(due30)
	rep := e.runNotices(due30)
	expiring := e.noticesOf("points.expiring")
	toCustomers := 0
	for _, x := range expiring {
		if strings.HasPrefix(x.Customer, "C") {
			toCustomers++
		}
	}
	if toCustomers != n || rep.PointsExpiring != len(expiring) {
		t.Errorf("30 days before January's points expire: %d notices written, %d stored, %d of them to the shippers; want %d to them",
			rep.PointsExpiring, len(expiring), toCustomers, n)
	}
	if got, want := len(e.downgrades()), n; got != want {
		t.Errorf("%d downgrade notices stored, want %d", got, want)
	}
}
