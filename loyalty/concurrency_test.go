package loyalty_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/loyalty"
)

// TestConcurrentEventsForOneCustomerLoseNothing: 32 goroutines post
// shipments, refunds and feedback for one customer (and a referee of theirs)
// at once. February's 100,000 each makes both project customers for March
// (x2.0, the top segment, whatever March adds, so the order of the events
// cannot change their price). Afterwards every answer, the month's
// contribution and the points balances are what the rules make of the
// inputs, and the books reconcile.
func TestConcurrentEventsForOneCustomerLoseNothing(t *testing.T) {
	const workers, perWorker = 32, 12
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("E1", "C1")
	feb := time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai)
	e.Ship("C1", "F1", "100000", feb) // floating x1: 100,000 points
	e.Ship("E1", "F2", "100000", feb) // and C1's referral bonus of 500, available from 24 February
	var (
		mu           sync.Mutex
		contribution = map[string]decimal.Decimal{}
		points       = map[string]int64{"C1": 100000 + 500, "E1": 100000}
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
				fen := int64(100 + r.IntN(100000))
				amount := decimal.New(fen, -2)
				earned := 2 * fen / 100 // floor(amount x 2.0)
				res, err := e.Process(e.Event(loyalty.ShipmentCompleted, customer, shipment, amount.String(), at))
				if err != nil {
					t.Errorf("shipment: %v", err)
					return
				}
				if res.Points != earned || res.Tier.Segment != "project" || res.Referral != nil {
					t.Errorf("shipment %s of %s: %d points as %s, referral %+v; want %d as project, no referral",
						shipment, amount, res.Points, res.Tier.Segment, res.Referral, earned)
				}
				change := earned
				refunded := decimal.Zero
				switch r.IntN(3) {
				case 0: // a partial refund takes back round_half_up(earned x part / amount)
					partFen := (fen + 1) / 3 // amount / 3, rounded to the fen
					refunded = decimal.New(partFen, -2)
					back := (2*earned*partFen + fen) / (2 * fen)
					res, err := e.Process(e.Event(loyalty.ShipmentRefunded, customer, shipment, refunded.String(), at.Add(time.Hour)))
					if err != nil {
						t.Errorf("refund: %v", err)
						return
					}
					if res.Points != -back {
						t.Errorf("refund of %s of %s (%d points): %d, want -%d", refunded, amount, earned, res.Points, back)
					}
					change -= back
				case 1:
					ev := e.Event(loyalty.FeedbackSubmitted, customer, shipment, "", at.Add(time.Hour))
					rating := 1 + r.IntN(5)
					ev.Rating = &rating
					res, err := e.Process(ev)
					if err != nil {
						t.Errorf("feedback: %v", err)
						return
					}
					if res.Points != 10 {
						t.Errorf("feedback: %d points, want 10", res.Points)
					}
					change += 10
				}
				mu.Lock()
				contribution[customer] = contribution[customer].Add(amount).Sub(refunded)
				points[customer] += change
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, customer := range []string{"C1", "E1"} {
		prof := e.Profile(t, customer)
		if !prof.ThisMonth.Amount.Equal(contribution[customer]) || !prof.LastMonth.Amount.Equal(d("100000")) {
			t.Errorf("%s: March contribution %s, February %s; want %s and 100000", customer, prof.ThisMonth.Amount,
				prof.LastMonth.Amount, contribution[customer])
		}
		if got := e.Points(customer).Balance; got != points[customer] {
			t.Errorf("%s points %d, want %d from the rules", customer, got, points[customer])
		}
	}
	e.Reconcile()
}

func TestBatchCommitsTheGoodAndReportsTheBad(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	events := []loyalty.Event{
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9)),
		e.Event(loyalty.ShipmentCompleted, "nobody", "S2", "100", march(1, 9)), // unknown customer
		e.Event(loyalty.ShipmentCompleted, "C2", "S3", "50", march(1, 9)),
		e.Event(loyalty.ShipmentRefunded, "C1", "S1", "40", march(2, 9)),   // after S1, same customer: in order
		e.Event(loyalty.ShipmentRefunded, "C2", "S3", "99", march(2, 9)),   // more than shipped
		e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9)), // duplicate shipment
	}
	out := e.Loyalty.ProcessBatch(e.Ctx, e.Key, "test", events)
	wantErr := []fault.Code{"", fault.UnknownCustomer, "", "", fault.RefundExceeds, fault.DuplicateShipment}
	for i, o := range out {
		if code := fault.CodeOf(o.Err); code != wantErr[i] {
			t.Errorf("event %d: err %v, want code %q", i, o.Err, wantErr[i])
		}
	}
	if p := e.Points("C1"); p.Balance != 60 {
		t.Errorf("C1 points %d, want 100 - 40", p.Balance)
	}
	again := e.Loyalty.ProcessBatch(e.Ctx, e.Key, "test", events)
	for i, o := range again {
		if code := fault.CodeOf(o.Err); code != wantErr[i] || o.Replayed != (wantErr[i] == "") {
			t.Errorf("replayed batch, event %d: replayed=%v err=%v, want a replay or code %q again", i, o.Replayed, o.Err, wantErr[i])
		}
	}
	if p := e.Points("C1"); p.Balance != 60 {
		t.Errorf("C1 points %d after the replayed batch, want still 60", p.Balance)
	}
	e.Reconcile()
}
