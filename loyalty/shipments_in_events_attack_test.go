package loyalty_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// One shipment id posted at once by two partners through two servers, for
// two customers (so no customer lock orders them), each racing a refund
// and a rating of the shipment by the other's customer: the shipment is
// completed exactly once, in one event row, for the customer whose event
// won; the loser is refused as a duplicate; a refund or a rating succeeds
// only for the winner's customer and lands on the winner's row. The books
// prove (testdb's books check at cleanup), and reconciliation passes.
func TestOneShipmentPostedByTwoPartnersAtOnceIsCompletedOnce(t *testing.T) {
	const rounds = 24
	e := newEnv(t)
	other := servicetest.NewWith(t, servicetest.Config{Pool: e.Pool, Clock: e.Clock}) // a second server
	_, key2, err := e.Ledger.CreateKey(e.Ctx, "second partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	e.Customer("R1")
	e.Customer("R2")
	e.Customer("C1", "R1") // referees (of two referrers: no lock in common): a
	e.Customer("C2", "R2") // shipment writes a referral bonus naming it
	at := march(10, 9)
	for i := range rounds {
		shipment := fmt.Sprintf("S-RACE-%d", i)
		ship := [2]loyalty.Outcome{}
		var refund, rating loyalty.Outcome
		var wg sync.WaitGroup
		wg.Go(func() { ship[0] = e.ProcessAs(e.Key, e.Event(loyalty.ShipmentCompleted, "C1", shipment, "300", at)) })
		wg.Go(func() {
			ship[1] = other.ProcessAs(key2, other.Event(loyalty.ShipmentCompleted, "C2", shipment, "200", at))
		})
		wg.Go(func() {
			refund = other.ProcessAs(key2, other.Event(loyalty.ShipmentRefunded, "C2", shipment, "50", at.Add(time.Hour)))
		})
		wg.Go(func() {
			ev := e.Event(loyalty.FeedbackSubmitted, "C1", shipment, "", at.Add(time.Hour))
			five := 5
			ev.Amount, ev.Rating = nil, &five
			rating = e.ProcessAs(e.Key, ev)
		})
		wg.Wait()
		winner := ""
		for k, o := range ship {
			switch {
			case o.Err == nil && winner == "":
				winner = []string{"C1", "C2"}[k]
			case o.Err == nil:
				t.Fatalf("%s completed for both customers", shipment)
			case fault.CodeOf(o.Err) != fault.DuplicateShipment:
				t.Fatalf("%s for customer %d: %v, want recorded or a duplicate", shipment, k+1, o.Err)
			}
		}
		if winner == "" {
			t.Fatalf("%s completed for neither customer", shipment)
		}
		for _, f := range []struct {
			customer string
			o        loyalty.Outcome
		}{{"C2", refund}, {"C1", rating}} {
			if f.o.Err == nil && f.customer != winner {
				t.Errorf("%s of %s, completed for %s: a follow-up of %s was recorded", shipment, f.o.Result.Type, winner, f.customer)
			}
			if f.o.Err != nil && fault.CodeOf(f.o.Err) != fault.UnknownShipment {
				t.Errorf("%s: follow-up of %s: %v, want recorded or unknown shipment", shipment, f.customer, f.o.Err)
			}
		}
		var rows int
		var customer, refunded string
		var rated bool
		e.Scan(t, `SELECT count(*) OVER (), customer_id, refunded::text, rated_at IS NOT NULL FROM events WHERE shipment_id = '`+shipment+`'`,
			&rows, &customer, &refunded, &rated)
		wantRefunded := "0"
		if refund.Err == nil {
			wantRefunded = "50"
		}
		if rows != 1 || customer != winner || refunded != wantRefunded || rated != (rating.Err == nil) {
			t.Errorf("%s: %d rows, customer %s, refunded %s, rated %v; want 1 of %s, refunded %s, rated %v",
				shipment, rows, customer, refunded, rated, winner, wantRefunded, rating.Err == nil)
		}
	}
	var events, bonuses int
	e.Scan(t, `SELECT count(*) FROM events WHERE type = 'shipment.completed'`, &events)
	e.Scan(t, `SELECT count(*) FROM referral_bonuses`, &bonuses)
	if events != rounds || bonuses == 0 || bonuses > 2 {
		t.Errorf("%d shipment events and %d referral bonuses; want %d and one per referee that won a shipment", events, bonuses, rounds)
	}
	e.Reconcile()
}

// A shipment, its retry (the same event) and its refund, sent at once to
// two servers for one customer: the shipment is recorded once (the retry
// answers its entry), and the refund either finds it and takes back its
// share, or finds nothing and writes nothing; the shipment's row says
// which, and the customer's balance is what the answers add up to.
func TestAShipmentItsRetryAndItsRefundAtOnceOnTwoServersAddUp(t *testing.T) {
	const rounds = 20
	e := newEnv(t)
	other := servicetest.NewWith(t, servicetest.Config{Pool: e.Pool, Clock: e.Clock})
	e.Customer("C1")
	at := march(10, 9)
	var want int64
	for i := range rounds {
		shipment := fmt.Sprintf("S-RETRY-%d", i)
		ev := e.Event(loyalty.ShipmentCompleted, "C1", shipment, "100", at)
		var first, retry, refund loyalty.Outcome
		var wg sync.WaitGroup
		wg.Go(func() { first = e.ProcessAs(e.Key, ev) })
		wg.Go(func() { retry = other.ProcessAs(e.Key, ev) })
		back := e.Event(loyalty.ShipmentRefunded, "C1", shipment, "40", at.Add(time.Hour))
		wg.Go(func() { refund = other.ProcessAs(e.Key, back) })
		wg.Wait()
		if first.Err != nil || retry.Err != nil || first.Result.EntryID == nil || retry.Result.EntryID == nil ||
			*first.Result.EntryID != *retry.Result.EntryID || first.Replayed == retry.Replayed {
			t.Fatalf("%s and its retry: %+v (%v), %+v (%v); want one recorded, one replayed, one entry",
				shipment, first.Result, first.Err, retry.Result, retry.Err)
		}
		want += first.Result.Points
		refunded := "0"
		switch {
		case refund.Err == nil:
			want += refund.Result.Points
			refunded = "40"
		case fault.CodeOf(refund.Err) != fault.UnknownShipment:
			t.Fatalf("refund of %s: %v, want recorded or unknown shipment", shipment, refund.Err)
		}
		var rows int
		var got string
		e.Scan(t, `SELECT count(*) OVER (), refunded::text FROM events WHERE shipment_id = '`+shipment+`'`, &rows, &got)
		if rows != 1 || got != refunded {
			t.Errorf("%s: %d rows, refunded %s; want one, refunded %s", shipment, rows, got, refunded)
		}
	}
	if got := e.Points("C1").Balance; got != want {
		t.Errorf("C1 holds %d points, the answers add up to %d", got, want)
	}
	e.Reconcile()
}
