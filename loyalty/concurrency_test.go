package loyalty_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/loyalty"
)

// TestConcurrentEventsForOneCustomerLoseNothing: 32 goroutines post
// shipments, refunds and feedback for one customer (and a referee of theirs)
// at once. Afterwards the month's contribution is the sum of what was
// shipped less what was refunded, the points balance is the sum of what each
// event reports it moved, and the books reconcile.
func TestConcurrentEventsForOneCustomerLoseNothing(t *testing.T) {
	const workers, perWorker = 32, 12
	e := newEnv(t)
	e.customer("C1")
	e.customer("E1", "C1")
	var (
		mu           sync.Mutex
		contribution = decimal.Zero
		points       = map[string]int64{}
		wg           sync.WaitGroup
	)
	at := march(10, 9)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWorker {
				customer := "C1"
				if r.IntN(4) == 0 {
					customer = "E1"
				}
				shipment := fmt.Sprintf("S-%d-%d", w, i)
				amount := decimal.New(int64(100+r.IntN(100000)), -2)
				res, err := e.process(e.event(loyalty.ShipmentCompleted, customer, shipment, amount.String(), at))
				if err != nil {
					t.Errorf("shipment: %v", err)
					return
				}
				mu.Lock()
				if customer == "C1" {
					contribution = contribution.Add(amount)
				}
				points[customer] += res.Points
				if res.Referral != nil {
					points[res.Referral.ReferrerID] += res.Referral.Points
				}
				mu.Unlock()
				switch r.IntN(3) {
				case 0: // a partial refund
					part := amount.Div(decimal.NewFromInt(3)).Round(2)
					res, err := e.process(e.event(loyalty.ShipmentRefunded, customer, shipment, part.String(), at.Add(time.Hour)))
					if err != nil {
						t.Errorf("refund: %v", err)
						return
					}
					mu.Lock()
					if customer == "C1" {
						contribution = contribution.Sub(part)
					}
					points[customer] += res.Points
					mu.Unlock()
				case 1:
					ev := e.event(loyalty.FeedbackSubmitted, customer, shipment, "", at.Add(time.Hour))
					rating := 1 + r.IntN(5)
					ev.Rating = &rating
					res, err := e.process(ev)
					if err != nil {
						t.Errorf("feedback: %v", err)
						return
					}
					mu.Lock()
					points[customer] += res.Points
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	prof, err := e.svc.Profile(e.ctx, "C1")
	if err != nil {
		t.Fatal(err)
	}
	if !prof.ThisMonth.Amount.Equal(contribution) {
		t.Errorf("March contribution %s, want %s", prof.ThisMonth.Amount, contribution)
	}
	for customer, want := range points {
		if got := e.points(customer).Balance; got != want {
			t.Errorf("%s points %d, want %d as the events reported", customer, got, want)
		}
	}
	e.reconcile()
}

func TestBatchCommitsTheGoodAndReportsTheBad(t *testing.T) {
	e := newEnv(t)
	e.customer("C1")
	e.customer("C2")
	events := []loyalty.Event{
		e.event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9)),
		e.event(loyalty.ShipmentCompleted, "nobody", "S2", "100", march(1, 9)), // unknown customer
		e.event(loyalty.ShipmentCompleted, "C2", "S3", "50", march(1, 9)),
		e.event(loyalty.ShipmentRefunded, "C1", "S1", "40", march(2, 9)),   // after S1, same customer: in order
		e.event(loyalty.ShipmentRefunded, "C2", "S3", "99", march(2, 9)),   // more than shipped
		e.event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9)), // duplicate shipment
	}
	out := e.svc.ProcessBatch(e.ctx, e.keyID, "test", events)
	wantErr := []bool{false, true, false, false, true, true}
	for i, o := range out {
		if (o.Err != nil) != wantErr[i] {
			t.Errorf("event %d: err %v, want error %v", i, o.Err, wantErr[i])
		}
	}
	if p := e.points("C1"); p.Balance != 60 {
		t.Errorf("C1 points %d, want 100 - 40", p.Balance)
	}
	again := e.svc.ProcessBatch(e.ctx, e.keyID, "test", events)
	for i, o := range again {
		if !wantErr[i] && (!o.Replayed || o.Err != nil) {
			t.Errorf("replayed batch, event %d: replayed=%v err=%v, want a replay", i, o.Replayed, o.Err)
		}
	}
	if p := e.points("C1"); p.Balance != 60 {
		t.Errorf("C1 points %d after the replayed batch, want still 60", p.Balance)
	}
	e.reconcile()
}
