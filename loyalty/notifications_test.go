package loyalty_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/notify/notifytest"
)

// announced is what the feed shows after cur, each notification as
// "type customer k=v ..." over the payload's scalar fields named, and the
// cursor at the feed's end.
func (e *env) announced(cur notify.Cursor, fields ...string) ([]string, []notify.Notification, notify.Cursor) {
	e.T.Helper()
	list, next := notifytest.Read(e.T, e.Ledger, cur)
	var out []string
	for _, n := range list {
		p := notifytest.Payload(e.T, n)
		line := n.Type + " " + n.Customer
		for _, f := range fields {
			if v, ok := p[f]; ok {
				line += fmt.Sprintf(" %s=%v", f, v)
			}
		}
		out = append(out, line)
	}
	return out, list, next
}

// credited is what entry id credited the customer's points account, from
// the books.
func (e *env) credited(id any, customer string) string {
	e.T.Helper()
	var n int64
	if _, err := fmt.Sscan(fmt.Sprint(id), &n); err != nil {
		e.T.Fatalf("entry_id %v: %v", id, err)
	}
	for _, p := range e.Entry(n).Postings {
		if p.Account == "customer:"+customer+":points" {
			return p.Amount.String()
		}
	}
	return "nothing"
}

// A shipment announces the points it earned and, when it raises the tier
// in effect, the upgrade; a rating its points; a referee's first shipment
// the referrer's bonus, pending until the window ends. The figures are the
// rules' (docs/RULES.md), each entry's credit is read from the books.
func TestEventsAnnounceTheirPointsAndUpgrades(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("R")
	e.Customer("F", "R")
	cur := notifytest.End(t, e.Ledger)
	at := march(15, 10)

	// A new customer (floating, level 1, x1.0) ships 2,500.00: 2500
	// points, and this month's contribution reaches mid-tier level
	// 9 + floor(500 * 7 / 8000) = 9.
	first := e.Event(loyalty.ShipmentCompleted, "C1", "S1", "2500.00", at)
	e.MustProcess(first)
	fields := []string{"points", "channel", "event_id", "shipment_id", "direction", "month", "available_at"}
	got, list, cur := e.announced(cur, fields...)
	want := []string{
		"points.earned C1 points=2500 channel=volume event_id=" + first.EventID + " shipment_id=S1",
		"customer.tier_changed C1 event_id=" + first.EventID + " direction=up month=2026-03",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the first shipment announced\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	earned, tier := notifytest.Payload(t, list[0]), notifytest.Payload(t, list[1])
	if c := e.credited(earned["entry_id"], "C1"); c != "2500" {
		t.Errorf("the entry the notice names credited C1 %s points, want 2500", c)
	}
	if from, to := fmt.Sprint(tier["from"]), fmt.Sprint(tier["to"]); from != "map[level:1 segment:floating]" || to != "map[level:9 segment:mid]" {
		t.Errorf("the upgrade is from %s to %s, want floating 1 to mid 9", from, to)
	}
	pricing, _ := earned["pricing"].(map[string]any)
	if fmt.Sprint(pricing["tier"]) != "map[level:1 segment:floating]" || fmt.Sprint(pricing["contribution"]) != "map[after:2500.00 before:0.00 month:2026-03]" {
		t.Errorf("pricing %v: want the tier that priced it (floating 1) and the month's contribution 0.00 -> 2500.00, at CNY's scale", pricing)
	}
	if !list[0].OccurredAt.Equal(at) {
		t.Errorf("occurred_at %s, want the event's %s", list[0].OccurredAt, at)
	}

	// 100.00 more, now mid-tier (x1.2): 120 points; 2,600 is still level
	// 9 (9 + floor(600 * 7 / 8000)): no upgrade.
	second := e.Event(loyalty.ShipmentCompleted, "C1", "S2", "100.00", at)
	e.MustProcess(second)
	if got, _, cur = e.announced(cur, fields...); !slices.Equal(got, []string{
		"points.earned C1 points=120 channel=volume event_id=" + second.EventID + " shipment_id=S2"}) {
		t.Fatalf("the second shipment announced %q", got)
	}

	// A retry replays, a twin of a completed shipment and a refund announce
	// nothing; a rating announces its 10 points, and its retry nothing.
	e.MustProcess(first)
	if _, err := e.Process(e.Event(loyalty.ShipmentCompleted, "C1", "S1", "5.00", at)); err == nil {
		t.Fatal("a second completion of S1 was recorded")
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "50.00", at))
	rating := e.Event(loyalty.FeedbackSubmitted, "C1", "S1", "", at)
	rating.Rating = ptr(5)
	e.MustProcess(rating)
	e.MustProcess(rating) // a retry, recorded alone (a follow-up event)
	got, list, cur = e.announced(cur, fields...)
	if !slices.Equal(got, []string{"points.earned C1 points=10 channel=feedback event_id=" + rating.EventID + " shipment_id=S1"}) {
		t.Fatalf("a replay, a refusal, a refund and a rating announced %q, want the rating's points alone", got)
	}
	if c := e.credited(notifytest.Payload(t, list[0])["entry_id"], "C1"); c != "10" {
		t.Errorf("the rating's entry credited %s, want 10", c)
	}

	// The referee's first shipment of at least 50: 60 points for F, 500 for
	// R, pending for 14 days.
	ref := e.Event(loyalty.ShipmentCompleted, "F", "S3", "60.00", at)
	e.MustProcess(ref)
	got, list, _ = e.announced(cur, fields...)
	until := at.AddDate(0, 0, 14).UTC().Format(time.RFC3339)
	want = []string{
		"points.earned F points=60 channel=volume event_id=" + ref.EventID + " shipment_id=S3",
		"points.earned R points=500 channel=referral event_id=" + ref.EventID + " shipment_id=S3 available_at=" + until,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the referee's shipment announced\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if c := e.credited(notifytest.Payload(t, list[1])["entry_id"], "R"); c != "500" {
		t.Errorf("the bonus's entry credited R %s, want 500", c)
	}
}

// An event refused inside a group, and a group whose transaction fails,
// announce nothing; the events recorded beside the refused one announce
// theirs.
func TestRefusedEventsAnnounceNothing(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	cur := notifytest.End(t, e.Ledger)
	at := march(15, 10)
	outs := e.ProcessBatch(e.Key, []loyalty.Event{
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "10.00", at),
		e.Event(loyalty.ShipmentCompleted, "NOBODY", "S2", "10.00", at),
		e.Event(loyalty.ShipmentRefunded, "C1", "S9", "1.00", at),
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "10.00", at),
	})
	servicetest.WantCode(t, outs[1].Err, "unknown_customer")
	servicetest.WantCode(t, outs[2].Err, "unknown_shipment")
	servicetest.WantCode(t, outs[3].Err, "duplicate_shipment")
	got, _, _ := e.announced(cur, "points", "shipment_id")
	if !slices.Equal(got, []string{"points.earned C1 points=10 shipment_id=S1"}) {
		t.Fatalf("a batch of one recorded shipment and three refusals announced %q", got)
	}
}

// An expiry run announces, per customer, the points it took (the scene's:
// C1's 70 left of February's lot, C2's 70), with the run and the entry that
// took them; a preview, a second run that takes nothing, and the run's undo
// announce nothing.
func TestExpiryAnnouncesEachCustomersExpiredPoints(t *testing.T) {
	e, asOf := expiryScene(t)
	cur := notifytest.End(t, e.Ledger)
	if _, err := e.Loyalty.PreviewExpiry(e.Ctx, asOf); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(asOf)
	run, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, list, cur := e.announced(cur, "points", "run_id", "expired_at", "as_of")
	day := asOf.UTC().Format(time.RFC3339)
	want := []string{
		fmt.Sprintf("points.expired C1 points=70 run_id=%d expired_at=%s as_of=%s", run.RunID, day, day),
		fmt.Sprintf("points.expired C2 points=70 run_id=%d expired_at=%s as_of=%s", run.RunID, day, day),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("a preview and the run announced\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i, c := range []string{"C1", "C2"} {
		if took := e.credited(notifytest.Payload(t, list[i])["entry_id"], c); took != "-70" {
			t.Errorf("the entry %s's notice names moved %s of its points, want -70", c, took)
		}
	}
	if _, err := e.Loyalty.Expire(e.Ctx, asOf, "test", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Loyalty.UndoExpiry(e.Ctx, run.RunID, loyalty.UndoInput{Reason: "mistake", Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := e.announced(cur, "points"); len(got) != 0 {
		t.Errorf("a second run and the undo announced %q, want nothing", got)
	}
}

// A group whose grouped write fails is written again event by event: what
// it announces is written once, by the transaction that committed.
func TestAGroupThatFallsBackAnnouncesOnce(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	cur := notifytest.End(t, e.Ledger)
	e.Loyalty.SetGroupedFault(func() { panic("a bug in the group loader") })
	at := march(15, 10)
	for _, o := range e.ProcessBatch(e.Key, []loyalty.Event{
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "10.00", at),
		e.Event(loyalty.ShipmentCompleted, "C2", "S2", "20.00", at),
	}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	if n := e.Loyalty.Stats().Fallbacks.Load(); n == 0 {
		t.Fatal("no group fell back: the test tests nothing")
	}
	got, _, _ := e.announced(cur, "points")
	slices.Sort(got) // two customers: written by two writers, in either order
	if !slices.Equal(got, []string{"points.earned C1 points=10", "points.earned C2 points=20"}) {
		t.Errorf("the group announced %q, want each shipment's points once", got)
	}
}
