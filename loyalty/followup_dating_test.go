package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/loyalty"
)

// A refund or a rating follows its shipment: one dated before it is
// refused, and writes nothing. (Found by review: a refund dated a month
// before its shipment was recorded, and the customer's points as of a
// day between the two read -100.)
func TestARefundOrARatingDatedBeforeItsShipmentIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(10, 10))
	entries := e.TableRows("entries")

	refund := e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", time.Date(2026, 2, 1, 10, 0, 0, 0, shanghai))
	rating := e.Event(loyalty.FeedbackSubmitted, "C1", "S1", "", march(10, 9))
	rating.Amount, rating.Rating = nil, ptr(4)
	for _, ev := range []loyalty.Event{refund, rating} {
		if _, err := e.Process(ev); fault.CodeOf(err) != fault.BeforeShipment {
			t.Errorf("%s dated %s: %v, want %s", ev.Type, ev.OccurredAt, err, fault.BeforeShipment)
		}
		outs := e.ProcessBatch(e.Key, []loyalty.Event{ev})
		if fault.CodeOf(outs[0].Err) != fault.BeforeShipment {
			t.Errorf("%s dated %s in a batch: %v, want %s", ev.Type, ev.OccurredAt, outs[0].Err, fault.BeforeShipment)
		}
	}
	if n := e.TableRows("entries"); n != entries {
		t.Errorf("%d entries, want the %d before the refusals", n, entries)
	}
	b, err := e.Ledger.BalanceAsOf(e.Ctx, "customer:C1:points", time.Date(2026, 2, 15, 0, 0, 0, 0, shanghai))
	if err != nil || !b.IsZero() {
		t.Errorf("C1's points as of 15 February: %s (%v), want 0", b, err)
	}
	// At the shipment's own instant, both are recorded.
	refund.EventID, refund.OccurredAt, refund.Amount = "refund-at-once", march(10, 10), ptr(d("40"))
	rating.EventID, rating.OccurredAt = "rating-at-once", march(10, 10)
	for _, ev := range []loyalty.Event{refund, rating} {
		e.MustProcess(ev)
	}
	e.Reconcile()
}

// A shipment refunded in full earns no rating: it was not delivered to be
// rated. (Found by review: a 0.01 shipment, refunded, then rated, earned
// 10 points, for every order placed and cancelled.) One refunded in part
// still does.
func TestAShipmentRefundedInFullEarnsNoRating(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "0.01", march(10, 10))
	e.Ship("C1", "S2", "100", march(10, 10))
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "0.01", march(10, 11)))
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "99.99", march(10, 11)))
	before := e.Points("C1")
	rate := func(shipment string) (loyalty.Result, error) {
		ev := e.Event(loyalty.FeedbackSubmitted, "C1", shipment, "", march(11, 9))
		ev.Amount, ev.Rating = nil, ptr(5)
		return e.Process(ev)
	}
	if _, err := rate("S1"); fault.CodeOf(err) != fault.ShipmentRefunded {
		t.Errorf("rating S1, refunded in full: %v, want %s", err, fault.ShipmentRefunded)
	}
	if got := e.Points("C1"); got != before {
		t.Errorf("points %+v after the refused rating, want %+v", got, before)
	}
	if res, err := rate("S2"); err != nil || res.Points != 10 {
		t.Errorf("rating S2, refunded in part: %+v, %v; want 10 points", res, err)
	}
	e.Reconcile()
}

// A refund in full takes back the rating's points with the shipment's, so
// rating first and refunding after ends where refunding first does: no
// points left from an order refunded in full. (Found by review of the
// refusal above: rating before the refund kept the 10 points.) Points
// already spent are owed, as any refund's.
func TestARefundInFullTakesBackTheRatingsPoints(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "0.01", march(10, 10))
	rate := e.Event(loyalty.FeedbackSubmitted, "C1", "S1", "", march(10, 11))
	rate.Amount, rate.Rating = nil, ptr(5)
	if res := e.MustProcess(rate); res.Points != 10 {
		t.Fatalf("the rating earned %d points, want 10", res.Points)
	}
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "0.01", march(10, 12)))
	if r := res.Refund; r.PointsDue != 10 || r.RatingPoints != 10 || r.PointsTakenBack != 10 || r.PointsOwed != 0 || res.Points != -10 {
		t.Errorf("refund %+v, points %d; want the rating's 10 due and taken back", *r, res.Points)
	}
	want := "10 points taken back for the refund of shipment S1 (in full: its rating's 10 points too)"
	if got := e.statementLines("C1")[0]; got != want {
		t.Errorf("statement line %q, want %q", got, want)
	}
	e.WantBalanceOf(t, "customer:C1:points", "0")
	e.WantBalanceOf(t, "platform:points:earned:feedback", "0")

	// A refund in part leaves the rating; the refund completing it takes
	// it back, owed when spent.
	e.Ship("C1", "S2", "100", march(11, 10))
	rate.EventID, rate.ShipmentID, rate.OccurredAt = "rate-S2", "S2", march(11, 11)
	e.MustProcess(rate)
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "50", march(11, 12)))
	e.Product(catalog.Product{SKU: "all", Name: "All", Kind: catalog.Standard, PointsPrice: e.Points("C1").Available})
	if _, err := e.Redeem("C1", "all", 1); err != nil {
		t.Fatal(err)
	}
	res = e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "50", march(11, 13)))
	if r := res.Refund; r.PointsOwed != r.PointsDue || r.PointsDue != 50+10 {
		t.Errorf("the refund completing S2: %+v; want the other 50 points and the rating's 10 owed", *r)
	}
	e.WantBalanceOf(t, "platform:points:earned:feedback", "0")
	e.Reconcile()
}

// A refund in full dated before the rating it takes back is effective no
// earlier than the rating: points are never taken back before they were
// earned, so no balance as of an instant between the two reads negative.
// (Found by review of a7b5dd7: the customer's points as of 11 March read
// -10, and 11 March's roll-forward showed -10 earned by feedback.)
func TestARefundTakingBackARatingIsNotEffectiveBeforeIt(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "0.01", march(10, 10)) // earns 0 points
	rate := e.Event(loyalty.FeedbackSubmitted, "C1", "S1", "", march(12, 10))
	rate.Amount, rate.Rating = nil, ptr(5)
	e.MustProcess(rate)
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "0.01", march(11, 10)))
	if r := res.Refund; r.PointsDue != 10 || r.PointsTakenBack != 10 {
		t.Errorf("refund %+v, want the rating's 10 due and taken back", *r)
	}
	if eff := e.Entry(*res.EntryID).EffectiveAt; !eff.Equal(march(12, 10)) {
		t.Errorf("the refund's entry is effective %s, want the rating's instant %s", eff, march(12, 10))
	}
	for _, at := range []time.Time{march(11, 12), march(12, 9)} {
		if b, err := e.Ledger.BalanceAsOf(e.Ctx, "customer:C1:points", at); err != nil || b.IsNegative() {
			t.Errorf("C1's points as of %s: %s (%v), want none negative", at, b, err)
		}
	}
	rep, err := e.Finance.PointsRollForward(e.Ctx, march(11, 0), march(12, 0))
	if err != nil || rep.Earned["feedback"] != 0 || rep.Closing != 0 {
		t.Errorf("11 March's roll-forward: %+v (%v), want nothing earned by feedback and nothing held", rep, err)
	}
	e.Reconcile()
}
