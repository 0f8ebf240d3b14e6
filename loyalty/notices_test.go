package loyalty_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

// notice is a notification row as a test reads it back from the table.
type notice struct {
	Type, Customer string
	OccurredAt     time.Time
	Payload        map[string]any
}

// downgrades are the customer.tier_changed notifications going down.
func (e *env) downgrades() []notice {
	e.T.Helper()
	var out []notice
	for _, n := range e.noticesOf("customer.tier_changed") {
		if n.Payload["direction"] == "down" {
			out = append(out, n)
		}
	}
	return out
}

// noticesOf reads the notifications of a type, oldest first.
func (e *env) noticesOf(typ string) []notice {
	e.T.Helper()
	rows, err := e.Pool.Query(e.Ctx, `SELECT type, coalesce(customer_id, ''), occurred_at, payload FROM notifications
WHERE type = $1 ORDER BY id`, typ)
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	var out []notice
	for rows.Next() {
		var n notice
		var raw []byte
		if err := rows.Scan(&n.Type, &n.Customer, &n.OccurredAt, &raw); err != nil {
			e.T.Fatal(err)
		}
		if err := json.Unmarshal(raw, &n.Payload); err != nil {
			e.T.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		e.T.Fatal(err)
	}
	return out
}

// runNotices runs the notice jobs as of asOf, failing the test on an error.
func (e *env) runNotices(asOf time.Time) loyalty.NoticeReport {
	e.T.Helper()
	rep, err := e.Loyalty.Notices(e.Ctx, asOf)
	if err != nil {
		e.T.Fatalf("notices as of %s: %v", asOf, err)
	}
	return rep
}

const day = 24 * time.Hour

// C1's 100 CNY shipment on 10 March 2026 earns 100 points (floating, 1 point
// per CNY), in a lot that expires at the end of the 12th month after March:
// 2027-04-01 00:00 Shanghai (DOMAIN, "Points lots and expiry").
var c1Expires = time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai)

func wantExpiring(t *testing.T, n notice, customer string, points string, expires time.Time, days int) {
	t.Helper()
	due := expires.Add(-time.Duration(days) * day)
	if n.Customer != customer || n.Payload["points"] != points || n.Payload["days_ahead"] != float64(days) ||
		n.Payload["expires_at"] != expires.UTC().Format(time.RFC3339) || !n.OccurredAt.Equal(due) {
		t.Errorf("notice %+v, want %s's %s points expiring %s, %d days ahead, occurred at %s", n, customer, points, expires, days, due)
	}
}

// TestExpiringNoticeIsDueExactlyItsLeadTimeAhead: with the default lead
// times (30 and 7 days), points expiring 30 days and one microsecond ahead
// are not announced yet, points expiring exactly 30 days ahead are, once,
// however often the job runs; the 7-day notice follows at exactly 7 days.
func TestExpiringNoticeIsDueExactlyItsLeadTimeAhead(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	due30, due7 := c1Expires.Add(-30*day), c1Expires.Add(-7*day)

	e.Clock.Set(due30)
	if rep := e.runNotices(due30.Add(-time.Microsecond)); rep.PointsExpiring != 0 {
		t.Errorf("31 days ahead less a microsecond: %d notices, want none", rep.PointsExpiring)
	}
	if rep := e.runNotices(due30); rep.PointsExpiring != 1 {
		t.Errorf("exactly 30 days ahead: %d notices, want 1", rep.PointsExpiring)
	}
	for _, at := range []time.Time{due30, due30.Add(time.Microsecond), due30.Add(time.Minute)} {
		if rep := e.runNotices(at); rep.PointsExpiring != 0 {
			t.Errorf("again as of %s: %d notices, want none", at, rep.PointsExpiring)
		}
	}
	got := e.noticesOf("points.expiring")
	if len(got) != 1 {
		t.Fatalf("%d notices, want 1: %+v", len(got), got)
	}
	wantExpiring(t, got[0], "C1", "100", c1Expires, 30)

	e.Clock.Set(due7)
	if rep := e.runNotices(due7.Add(-time.Microsecond)); rep.PointsExpiring != 0 {
		t.Errorf("7 days and a microsecond ahead: %d notices, want none", rep.PointsExpiring)
	}
	if rep := e.runNotices(due7); rep.PointsExpiring != 1 {
		t.Errorf("exactly 7 days ahead: %d notices, want 1", rep.PointsExpiring)
	}
	e.runNotices(due7)
	got = e.noticesOf("points.expiring")
	if len(got) != 2 {
		t.Fatalf("%d notices, want 2: %+v", len(got), got)
	}
	wantExpiring(t, got[1], "C1", "100", c1Expires, 7)
}

// TestExpiringNoticeOnAFirstRunInsideTheWindow: a first run one instant
// after the 30-day lead time began announces it; a first run 5 days before
// the points expire announces the 7-day notice alone, not 30 then 7.
func TestExpiringNoticeOnAFirstRunInsideTheWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		asOf time.Time
		days int
	}{
		{"AnInstantAfter30Days", c1Expires.Add(-30*day + time.Microsecond), 30},
		{"FiveDaysBefore", c1Expires.Add(-5 * day), 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.Customer("C1")
			e.Customer("C2")
			e.Ship("C1", "S1", "100", march(10, 9))
			e.Ship("C2", "S2", "60", march(12, 9)) // expires with C1's
			e.Clock.Set(tc.asOf)
			if rep := e.runNotices(tc.asOf); rep.PointsExpiring != 2 {
				t.Errorf("%d notices, want 2", rep.PointsExpiring)
			}
			got := e.noticesOf("points.expiring")
			if len(got) != 2 {
				t.Fatalf("%d notices, want 2: %+v", len(got), got)
			}
			byCustomer := map[string]notice{got[0].Customer: got[0], got[1].Customer: got[1]}
			wantExpiring(t, byCustomer["C1"], "C1", "100", c1Expires, tc.days)
			wantExpiring(t, byCustomer["C2"], "C2", "60", c1Expires, tc.days)
		})
	}
}

// TestExpiringNoticesFollowTheRuleSet: a rule version with lead times 10 and
// 3 days announces at exactly 10 days ahead and not at 30.
func TestExpiringNoticesFollowTheRuleSet(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	rs, err := e.Loyalty.RulesAt(e.Ctx, e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	rs.ExpiryNoticeDays = []int{10, 3}
	rs.EffectiveFrom = time.Time{}
	if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
		t.Fatal(err)
	}
	due10 := c1Expires.Add(-10 * day)
	e.Clock.Set(due10)
	if rep := e.runNotices(c1Expires.Add(-30 * day)); rep.PointsExpiring != 0 {
		t.Errorf("30 days ahead under lead times 10 and 3: %d notices, want none", rep.PointsExpiring)
	}
	if rep := e.runNotices(due10); rep.PointsExpiring != 1 {
		t.Errorf("10 days ahead: %d notices, want 1", rep.PointsExpiring)
	}
	wantExpiring(t, e.noticesOf("points.expiring")[0], "C1", "100", c1Expires, 10)
}

// TestMonthTurnDowngradeAtShanghaiMidnight: a customer whose January (5,000
// CNY: mid L11) set February's tier and whose February was 299 CNY
// (floating L3) goes down at 1 March 00:00 Shanghai, 28 February 16:00 UTC:
// a run one microsecond before announces nothing, a run at the instant
// announces mid L11 -> floating L3, once. A customer who kept up, and one
// who rose, are not told of a downgrade.
func TestMonthTurnDowngradeAtShanghaiMidnight(t *testing.T) {
	e := newEnv(t)
	for _, c := range []string{"DOWN", "SAME", "UP"} {
		e.Customer(c)
	}
	jan, feb := time.Date(2026, 1, 20, 10, 0, 0, 0, shanghai), time.Date(2026, 2, 10, 10, 0, 0, 0, shanghai)
	e.Ship("DOWN", "D1", "5000", jan)
	e.Ship("DOWN", "D2", "299", feb)
	e.Ship("SAME", "S1", "5000", jan)
	e.Ship("SAME", "S2", "5000", feb)
	e.Ship("UP", "U1", "100", jan)
	e.Ship("UP", "U2", "5000", feb)
	turn := time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai)
	if want := time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC); !turn.Equal(want) {
		t.Fatalf("the turn is %s, want %s", turn, want)
	}

	if rep := e.runNotices(turn.Add(-time.Microsecond)); rep.TierDowngrades != 0 {
		t.Errorf("one microsecond before the turn: %d downgrades, want none", rep.TierDowngrades)
	}
	if rep := e.runNotices(turn); rep.TierDowngrades != 1 {
		t.Errorf("at the turn: %d downgrades, want 1", rep.TierDowngrades)
	}
	if rep := e.runNotices(turn.Add(time.Hour)); rep.TierDowngrades != 0 {
		t.Errorf("again in March: %d downgrades, want none", rep.TierDowngrades)
	}
	got := e.downgrades()
	if len(got) != 1 {
		t.Fatalf("%d tier notices, want 1: %+v", len(got), got)
	}
	n := got[0]
	from, _ := n.Payload["from"].(map[string]any)
	to, _ := n.Payload["to"].(map[string]any)
	if n.Customer != "DOWN" || n.Payload["direction"] != "down" || n.Payload["month"] != "2026-03" || !n.OccurredAt.Equal(turn) ||
		from["segment"] != "mid" || from["level"] != float64(11) || to["segment"] != "floating" || to["level"] != float64(3) {
		t.Errorf("notice %+v, want DOWN from mid L11 to floating L3 in 2026-03 at %s", n, turn)
	}
	// The profile agrees: floating L3 in March.
	if p := e.Profile(t, "DOWN"); p.Segment != "floating" || p.Level != 3 {
		t.Errorf("DOWN's profile in March: %s L%d, want floating L3", p.Segment, p.Level)
	}
}

// TestReferralBonusAvailableNoticeAtTheEndOfTheWindow: the referrer is told
// of a bonus at exactly the end of its 14-day window, once; a bonus
// cancelled inside its window by a full refund is never announced.
func TestReferralBonusAvailableNoticeAtTheEndOfTheWindow(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	e.Customer("F", "R")
	res := e.Ship("E", "S1", "80", march(2, 9))
	e.Ship("F", "S2", "80", march(3, 9))
	e.MustProcess(e.Event("shipment.refunded", "F", "S2", "80", march(4, 9))) // F's bonus is cancelled
	windowEnds := march(16, 9)                                                // 14 days after E's qualifying shipment

	e.Clock.Set(march(17, 10)) // past both windows
	if rep := e.runNotices(windowEnds.Add(-time.Microsecond)); rep.ReferralBonusesAvailable != 0 {
		t.Errorf("one instant before the end: %d notices, want none", rep.ReferralBonusesAvailable)
	}
	if rep := e.runNotices(windowEnds); rep.ReferralBonusesAvailable != 1 {
		t.Errorf("at the end of the window: %d notices, want 1", rep.ReferralBonusesAvailable)
	}
	if rep := e.runNotices(march(17, 10)); rep.ReferralBonusesAvailable != 0 {
		t.Errorf("again: %d notices, want none", rep.ReferralBonusesAvailable)
	}
	got := e.noticesOf("referral.bonus_available")
	if len(got) != 1 {
		t.Fatalf("%d notices, want 1: %+v", len(got), got)
	}
	var bonusEntry float64
	e.Scan(t, `SELECT entry_id FROM referral_bonuses WHERE referee_id = 'E'`, &bonusEntry)
	if n := got[0]; n.Customer != "R" || n.Payload["points"] != "500" || n.Payload["referred_customer_id"] != "E" ||
		n.Payload["entry_id"] != bonusEntry || !n.OccurredAt.Equal(windowEnds) || res.Referral == nil {
		t.Errorf("notice %+v, want R's 500 points for E (entry %v) at %s", n, bonusEntry, windowEnds)
	}
}

// TestNoticesAreOnceOnlyWhenRunsRace: eight runs at once write each notice
// due exactly once between them: at the turn into March 2026, five
// downgrades and five referral bonuses; on 2 January 2027, the points of six
// customers expiring 30 days later.
func TestNoticesAreOnceOnlyWhenRunsRace(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	customers := []string{"A", "B", "C", "D", "E"}
	for _, c := range customers {
		e.Customer(c, "R")
		e.Ship(c, "S"+c, "5000", time.Date(2026, 1, 20, 10, 0, 0, 0, shanghai)) // R's bonus; mid in January
		e.Ship(c, "T"+c, "10", time.Date(2026, 2, 10, 10, 0, 0, 0, shanghai))   // floating in February
	}
	race := func(asOf time.Time, job string) {
		t.Helper()
		// Every run reads the job's mark before any moves it: each finds
		// all the work to do, and only the notices' once_keys keep them
		// once.
		var marks sync.WaitGroup
		marks.Add(8)
		e.Loyalty.SetNoticeMarkRead(func(j string) {
			if j == job {
				marks.Done()
				marks.Wait()
			}
		})
		defer e.Loyalty.SetNoticeMarkRead(nil)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.Loyalty.Notices(e.Ctx, asOf); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	// The five go from mid (January's 5,000) to floating (February's 10)
	// at the turn; R's bonuses were available from 3 February.
	race(time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai), "customer.tier_changed.down")
	// Each earned 5,000 points in January and R 5 × 500 for them, all
	// expiring 2027-02-01; February's points expire a month later.
	expires := time.Date(2027, 2, 1, 0, 0, 0, 0, shanghai)
	e.Clock.Set(expires.Add(-30 * day))
	race(expires.Add(-30*day), "points.expiring")
	for typ, want := range map[string]int{"points.expiring": 6, "referral.bonus_available": 5} {
		if got := len(e.noticesOf(typ)); got != want {
			t.Errorf("%d %s notices, want %d", got, typ, want)
		}
	}
	if got := len(e.downgrades()); got != 5 {
		t.Errorf("%d downgrades, want 5", got)
	}
	for _, n := range e.noticesOf("points.expiring") {
		want := "5000"
		if n.Customer == "R" {
			want = "2500"
		}
		wantExpiring(t, n, n.Customer, want, expires, 30)
	}
}

// TestNoticesRefuseAnAsOfAheadOfNow: like the expiry job, the notice jobs
// never act ahead of now plus the clock skew, and write nothing then.
func TestNoticesRefuseAnAsOfAheadOfNow(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	now := e.Clock.Now()
	before := e.TableRows("notifications") + e.TableRows("notice_marks")
	_, err := e.Loyalty.Notices(e.Ctx, now.Add(loyalty.ClockSkew+time.Microsecond))
	servicetest.WantCode(t, err, fault.AsOfInFuture)
	if n := e.TableRows("notifications") + e.TableRows("notice_marks") - before; n != 0 {
		t.Errorf("a refused run wrote %d rows", n)
	}
	e.runNotices(now.Add(loyalty.ClockSkew))
}
