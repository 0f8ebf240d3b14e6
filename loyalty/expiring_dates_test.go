package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// Points expiring on one day are listed as one date in the time zone of the
// rules now, even when their lots expire at different instants: lots earned
// in March under Shanghai's rules expire at 2027-04-01 00:00 Shanghai
// (01:00 in Tokyo), those earned after a switch to Tokyo's rules on 20
// March at 2027-04-01 00:00 Tokyo (DOMAIN.md: the end of the 12th calendar
// month after, in the rule set's time zone). Both are 1 April in Tokyo: one
// date, of both lots' points, listed at the first of the two instants.
func TestExpiringPointsOfOneDayAreOneDateWhateverTheirInstants(t *testing.T) {
	e := newEnv(t)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	rs := rules.Default()
	rs.Timezone = "Asia/Tokyo"
	rs.EffectiveFrom = time.Date(2026, 3, 20, 0, 0, 0, 0, tokyo)
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9)) // floating x1.0: 100 points
	e.Clock.Set(time.Date(2026, 3, 26, 12, 0, 0, 0, tokyo))
	e.Ship("C1", "S2", "50", time.Date(2026, 3, 25, 9, 0, 0, 0, tokyo)) // 50 points
	e.WantLots(t, "C1", "2027-04-01:100", "2027-03-31:50")              // the dates in Shanghai

	got, err := e.Loyalty.Expiring(e.Ctx, "C1", 400*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := loyalty.ExpiringPoints{Date: "2027-04-01", ExpiresAt: time.Date(2027, 4, 1, 0, 0, 0, 0, tokyo).UTC(), Points: 150}
	if len(got) != 1 || got[0].Date != want.Date || !got[0].ExpiresAt.Equal(want.ExpiresAt) || got[0].Points != want.Points {
		t.Errorf("expiring %+v, want only %+v", got, want)
	}
}
