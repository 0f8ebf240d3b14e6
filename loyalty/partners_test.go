package loyalty_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// rotatedKey is a second key of the env's partner, as a partner rotating
// its key holds for a while beside the first.
func (e *env) rotatedKey() ledger.APIKey {
	e.T.Helper()
	_, k, err := e.Ledger.AddPartnerKey(e.Ctx, e.Key.PartnerID, "rotated")
	if err != nil {
		e.T.Fatal(err)
	}
	return k
}

// A refund retried through the partner's rotated key is the refund already
// recorded: its points are taken back once, and the retry is answered the
// first answer.
func TestRefundRetriedWithARotatedKeyTakesBackOnce(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustProcess(e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9))) // 100 points
	refund := e.Event(loyalty.ShipmentRefunded, "C1", "S1", "40", march(2, 9))
	first := e.ProcessAs(e.Key, refund)
	if first.Err != nil || first.Replayed {
		t.Fatalf("refund: %+v", first)
	}
	again := e.ProcessAs(e.rotatedKey(), refund)
	if again.Err != nil || !again.Replayed || !bytes.Equal(again.JSON, first.JSON) {
		t.Errorf("refund through the rotated key: replayed=%v err=%v\n%s\nwant the first answer replayed\n%s",
			again.Replayed, again.Err, again.JSON, first.JSON)
	}
	if p := e.Points("C1"); p.Balance != 60 {
		t.Errorf("C1 points %d, want 100 - 40 taken back once", p.Balance)
	}
	changed := refund
	changed.Amount = ptr(d("41"))
	if o := e.ProcessAs(e.rotatedKey(), changed); fault.CodeOf(o.Err) != fault.IdempotencyConflict {
		t.Errorf("the refund's id with another body through a rotated key: %v, want %s", o.Err, fault.IdempotencyConflict)
	}
}

// Two partners each have their own space: the same event id is two events.
func TestTwoPartnersUseTheSameEventIDIndependently(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	_, other, err := e.Ledger.CreateKey(e.Ctx, "other partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	if other.PartnerID == e.Key.PartnerID {
		t.Fatalf("a new partner key joined partner %d", other.PartnerID)
	}
	ev := e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9))
	theirs := ev
	theirs.CustomerID, theirs.ShipmentID = "C2", "S2"
	theirs.Amount = ptr(d("30"))
	for _, o := range []loyalty.Outcome{e.ProcessAs(e.Key, ev), e.ProcessAs(other, theirs)} {
		if o.Err != nil || o.Replayed {
			t.Errorf("event %s: replayed=%v err=%v, want recorded", ev.EventID, o.Replayed, o.Err)
		}
	}
	if p1, p2 := e.Points("C1"), e.Points("C2"); p1.Balance != 100 || p2.Balance != 30 {
		t.Errorf("points C1 %d, C2 %d; want 100 and 30", p1.Balance, p2.Balance)
	}
}

// The same refund sent at once through two keys of one partner, many
// times over, is one refund: one event recorded, points taken back once.
func TestRefundRacedThroughTwoKeysOfAPartnerIsOneRefund(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustProcess(e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9)))
	keys := []ledger.APIKey{e.Key, e.rotatedKey()}
	refund := e.Event(loyalty.ShipmentRefunded, "C1", "S1", "40", march(2, 9))
	const senders = 24
	outs := make([]loyalty.Outcome, senders)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			<-start
			outs[i] = e.ProcessAs(keys[i%2], refund)
		})
	}
	close(start)
	wg.Wait()
	recorded := 0
	for i, o := range outs {
		if o.Err != nil {
			t.Fatalf("sender %d: %v", i, o.Err)
		}
		if !o.Replayed {
			recorded++
		}
		if !bytes.Equal(o.JSON, outs[0].JSON) {
			t.Errorf("sender %d answered\n%s\nsender 0\n%s", i, o.JSON, outs[0].JSON)
		}
	}
	if recorded != 1 {
		t.Errorf("%d senders recorded the refund, want 1", recorded)
	}
	if p := e.Points("C1"); p.Balance != 60 {
		t.Errorf("C1 points %d, want 100 - 40 taken back once", p.Balance)
	}
	if n := e.Lines(`SELECT event_id FROM events WHERE event_id = $1`, refund.EventID); len(n) != 1 {
		t.Errorf("events recorded for the refund: %v, want one", n)
	}
	e.Reconcile()
}
