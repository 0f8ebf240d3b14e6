package loyalty_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestPropertyPointsEqualLots runs random sequences of shipments, refunds,
// feedback, redemptions, cancellations, expiry runs and the passing of time
// (so that bonuses become available and lots expire), and checks after every
// step that each customer's points balance is the sum of their lots and,
// every few steps, that every reconciliation check passes.
func TestPropertyPointsEqualLots(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runProperty(t, seed, 250)
		})
	}
}

func runProperty(t *testing.T, seed uint64, steps int) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(seed, 99))
	customers := []string{"A", "B", "C", "D"}
	e.customer("A")
	e.customer("B", "A")
	e.customer("C", "A")
	e.customer("D", "B")
	e.product(loyalty.Product{SKU: "pen", Name: "Pen", Kind: loyalty.Standard, PointsPrice: 30})
	e.product(loyalty.Product{SKU: "box", Name: "Box", Kind: loyalty.Featured, PointsPrice: 45,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(time.Date(2030, 1, 1, 0, 0, 0, 0, shanghai)), Stock: ptr(40)})

	type ship struct {
		customer, id string
		left         decimal.Decimal
	}
	var shipments []ship
	var redemptions []string
	ops := map[string]int{}
	for step := range steps {
		at := e.clock.now().Add(-time.Minute)
		switch op := r.IntN(10); {
		case op < 3:
			c := customers[r.IntN(len(customers))]
			id := fmt.Sprintf("S%d", step)
			amount := decimal.New(int64(100+r.IntN(50000)), -2)
			e.ship(c, id, amount.String(), at)
			shipments = append(shipments, ship{c, id, amount})
			ops["ship"]++
		case op < 5 && len(shipments) > 0:
			i := r.IntN(len(shipments))
			s := &shipments[i]
			if !s.left.IsPositive() {
				continue
			}
			part := s.left
			if r.IntN(2) == 0 {
				part = s.left.Div(decimal.NewFromInt(2)).RoundDown(2)
			}
			if !part.IsPositive() {
				continue
			}
			e.mustProcess(e.event(loyalty.ShipmentRefunded, s.customer, s.id, part.String(), at))
			s.left = s.left.Sub(part)
			ops["refund"]++
		case op < 6 && len(shipments) > 0:
			s := shipments[r.IntN(len(shipments))]
			ev := e.event(loyalty.FeedbackSubmitted, s.customer, s.id, "", at)
			rating := 1 + r.IntN(5)
			ev.Rating = &rating
			if _, err := e.process(ev); err != nil && ledger.ErrorCode(err) != loyalty.CodeAlreadyRated {
				t.Fatalf("feedback: %v", err)
			}
			ops["feedback"]++
		case op < 8:
			sku := []string{"pen", "box"}[r.IntN(2)]
			red, err := e.redeem(customers[r.IntN(len(customers))], sku, 1+r.IntN(3))
			switch ledger.ErrorCode(err) {
			case "":
				redemptions = append(redemptions, red.ID)
				ops["redeem"]++
			case loyalty.CodeInsufficientPoints, loyalty.CodeOutOfStock, loyalty.CodeOutsideWindow:
				ops["redeem refused"]++
			default:
				t.Fatalf("redeem: %v", err)
			}
		case op < 9 && len(redemptions) > 0:
			i := r.IntN(len(redemptions))
			if _, err := e.svc.CancelRedemption(e.ctx, redemptions[i], "", "test"); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			redemptions = append(redemptions[:i], redemptions[i+1:]...)
			ops["cancel"]++
		default:
			// Time passes; now and then the expiry job runs.
			e.clock.add(time.Duration(r.IntN(90*24)) * time.Hour)
			if _, err := e.svc.Expire(e.ctx, e.clock.now(), "test", nil); err != nil {
				t.Fatalf("expire: %v", err)
			}
			ops["time+expiry"]++
		}
		var bad []string
		rows, err := e.pool.Query(e.ctx, `SELECT a.code FROM accounts a
LEFT JOIN (SELECT account_id, sum(remaining) AS s FROM points_lots GROUP BY account_id) l ON l.account_id = a.id
JOIN balance_buckets b ON b.account_id = a.id
WHERE a.asset = 'PTS' AND NOT a.allow_negative AND b.balance <> coalesce(l.s, 0)`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var code string
			rows.Scan(&code)
			bad = append(bad, code)
		}
		rows.Close()
		if len(bad) > 0 {
			t.Fatalf("step %d: points balance differs from the sum of lots for %v", step, bad)
		}
		if step%25 == 0 {
			e.reconcile()
		}
	}
	e.reconcile()
	t.Logf("operations: %v", ops)
}
