package loyalty_test

import "testing"

// TestANoticeRunAsOfThePastAnnouncesNoPointsAlreadyExpired: a run as of an
// instant before now (a catch-up, or a mistaken as_of) announces
// points.expiring only for points that still expire after now: points
// whose expiry has passed (the expiry job not yet run) are not "expiring
// in 7 days", while points that still expire later are announced as the
// rules say.
func TestANoticeRunAsOfThePastAnnouncesNoPointsAlreadyExpired(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	e.Clock.Set(c1Expires.Add(3 * day))
	if rep := e.runNotices(c1Expires.Add(-5 * day)); rep.PointsExpiring != 0 {
		t.Errorf("3 days after the points expired, as of 5 days before: %d notices %+v, want none",
			rep.PointsExpiring, e.noticesOf("points.expiring"))
	}

	e = newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 9))
	e.Clock.Set(c1Expires.Add(-3 * day))
	if rep := e.runNotices(c1Expires.Add(-5 * day)); rep.PointsExpiring != 1 {
		t.Errorf("3 days before the points expire, as of 5 days before: %d notices, want the 7-day one", rep.PointsExpiring)
	}
	if got := e.noticesOf("points.expiring"); len(got) == 1 {
		wantExpiring(t, got[0], "C1", "100", c1Expires, 7)
	}
}
