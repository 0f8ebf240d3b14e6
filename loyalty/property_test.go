package loyalty_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/pricemodel"
	"github.com/tally-ledger/tally/loyalty"
)

// TestPropertyPointsEqualLots runs random sequences of shipments, refunds,
// feedback, redemptions, cancellations, expiry runs and the passing of time
// (so that bonuses become available and lots expire), runs the same sequence
// through the independent model of the rules (pricemodel.Books), and checks
// after every step that:
//   - the event's answer (tier, points, contribution, referral, take-back,
//     refusal), the redemption's refusal and the expiry run's points are the
//     model's;
//   - every points account's balance is the model's;
//   - each customer's points balance is the sum of their lots;
//
// and, every few steps, that every reconciliation check passes.
func TestPropertyPointsEqualLots(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runProperty(t, seed, 250, everyday)
		})
	}
}

// mix is how often, in tenths or any other unit, runProperty takes each
// step: a shipment, a refund, a rating, a redemption, a cancellation, or
// the passing of time with an expiry run.
type mix struct {
	ship, refund, feedback, redeem, cancel, time int
	oldestFirst                                  bool     // cancel the oldest redemption standing, not any
	want                                         []string // steps the run must take, besides every run's
}

// everyday is the mix of TestPropertyPointsEqualLots.
var everyday = mix{ship: 3, refund: 2, feedback: 1, redeem: 2, cancel: 1, time: 1}

func runProperty(t *testing.T, seed uint64, steps int, m mix) {
	e := newEnv(t)
	model := pricemodel.NewBooks(pricemodel.Default())
	r := rand.New(rand.NewPCG(seed, 99))
	customers := []string{"A", "B", "C", "D"}
	for _, c := range [][2]string{{"A", ""}, {"B", "A"}, {"C", "A"}, {"D", "B"}} {
		if c[1] == "" {
			e.Customer(c[0])
		} else {
			e.Customer(c[0], c[1])
		}
		model.AddCustomer(c[0], c[1])
	}
	// The catalogue's own rules (window, stock) are the test's to follow;
	// the model decides whether the points are there.
	type product struct {
		price       int64
		featured    bool
		stock       *int
		from, until time.Time
	}
	products := map[string]*product{
		"pen": {price: 30},
		"box": {price: 45, featured: true, stock: ptr(40), from: march(1, 0), until: time.Date(2030, 1, 1, 0, 0, 0, 0, shanghai)},
	}
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 30})
	e.Product(catalog.Product{SKU: "box", Name: "Box", Kind: catalog.Featured, PointsPrice: 45,
		ValidFrom: ptr(products["box"].from), ValidUntil: ptr(products["box"].until), Stock: ptr(40)})

	type ship struct {
		customer, id string
		left         decimal.Decimal
	}
	type redeemed struct {
		id, sku string
		q       int
	}
	var shipments []ship
	var redemptions []redeemed
	ops := map[string]int{}
	for step := range steps {
		now := e.Clock.Now()
		at := now.Add(-time.Minute)
		switch op := r.IntN(m.ship + m.refund + m.feedback + m.redeem + m.cancel + m.time); {
		case op < m.ship:
			c := customers[r.IntN(len(customers))]
			id := fmt.Sprintf("S%d", step)
			amount := decimal.New(int64(100+r.IntN(50000)), -2)
			a := e.processLikeModel(model, e.Event(loyalty.ShipmentCompleted, c, id, amount.String(), at))
			if a.Refused == "" {
				shipments = append(shipments, ship{c, id, amount})
			}
			if a.Referral != nil {
				ops["referral "+a.Referral.Status]++
			}
			ops["ship"]++
		case op < m.ship+m.refund && len(shipments) > 0:
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
			a := e.processLikeModel(model, e.Event(loyalty.ShipmentRefunded, s.customer, s.id, part.String(), at))
			if a.Refused == "" {
				s.left = s.left.Sub(part)
			}
			if a.Refund != nil && a.Refund.Owed > 0 {
				ops["refund short of points"]++
			}
			if a.Referral != nil {
				ops["referral "+a.Referral.Status]++
			}
			ops["refund"]++
		case op < m.ship+m.refund+m.feedback && len(shipments) > 0:
			s := shipments[r.IntN(len(shipments))]
			ev := e.Event(loyalty.FeedbackSubmitted, s.customer, s.id, "", at)
			rating := 1 + r.IntN(5)
			ev.Rating = &rating
			e.processLikeModel(model, ev)
			ops["feedback"]++
		case op < m.ship+m.refund+m.feedback+m.redeem:
			sku, c, q := []string{"pen", "box"}[r.IntN(2)], customers[r.IntN(len(customers))], 1+r.IntN(3)
			id := fmt.Sprintf("red-%d", step)
			p := products[sku]
			var want string
			switch {
			case p.featured && (now.Before(p.from) || !now.Before(p.until)):
				want = string(fault.OutsideWindow)
			case p.stock != nil && *p.stock < q:
				want = string(fault.OutOfStock)
			default:
				want = model.Redeem(id, c, p.price*int64(q), now)
			}
			_, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: id, CustomerID: c, SKU: sku, Quantity: q}, "test")
			if got := string(fault.CodeOf(err)); got != want {
				t.Fatalf("step %d: redeem %d %s by %s: %q (%v), the model says %q", step, q, sku, c, got, err, want)
			}
			if err != nil {
				ops["redeem refused"]++
				continue
			}
			if p.stock != nil {
				*p.stock -= q
			}
			redemptions = append(redemptions, redeemed{id, sku, q})
			ops["redeem"]++
		case op < m.ship+m.refund+m.feedback+m.redeem+m.cancel && len(redemptions) > 0:
			i := r.IntN(len(redemptions))
			if m.oldestFirst {
				i = 0
			}
			red := redemptions[i]
			if _, err := e.Catalog.CancelRedemption(e.Ctx, "", red.id, "", "test"); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			before := model.ExpiredSettled
			if code := model.CancelRedemption(red.id, e.Clock.Now()); code != "" {
				t.Fatalf("step %d: the model cannot cancel %s: %s", step, red.id, code)
			}
			if model.ExpiredSettled > before {
				ops["cancel settling with expired points"]++
			}
			if p := products[red.sku]; p.stock != nil {
				*p.stock += red.q
			}
			redemptions = slices.Delete(redemptions, i, i+1)
			ops["cancel"]++
		default:
			// Time passes; now and then the expiry job runs.
			e.Clock.Add(time.Duration(r.IntN(90*24)) * time.Hour)
			rep, err := e.Loyalty.Expire(e.Ctx, e.Clock.Now(), "test", nil)
			if err != nil {
				t.Fatalf("expire: %v", err)
			}
			if points, customers := model.Expire(e.Clock.Now()); rep.Points != points || rep.Customers != customers {
				t.Fatalf("step %d: expiry at %s: %d points of %d customers, the model says %d of %d", step, e.Clock.Now(),
					rep.Points, rep.Customers, points, customers)
			}
			if rep.Points > 0 {
				ops["expiry of points"]++
			}
			ops["time+expiry"]++
		}
		if diff := e.balancesDiffer(model); diff != "" {
			t.Fatalf("step %d: the points balances differ from the model's:\n%s", step, diff)
		}
		var bad []string
		rows, err := e.Pool.Query(e.Ctx, `SELECT a.code FROM accounts a
LEFT JOIN (SELECT account_id, sum(remaining) AS s FROM points_lots GROUP BY account_id) l ON l.account_id = a.id
JOIN balance_buckets b ON b.account_id = a.id
WHERE a.asset = 'PTS' AND NOT a.allow_negative AND b.balance <> coalesce(l.s, 0)`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var code string
			if err := rows.Scan(&code); err != nil {
				t.Fatal(err)
			}
			bad = append(bad, code)
		}
		rows.Close()
		if len(bad) > 0 {
			t.Fatalf("step %d: points balance differs from the sum of lots for %v", step, bad)
		}
		if step%25 == 0 {
			e.Reconcile()
		}
	}
	e.Reconcile()
	for _, what := range append([]string{"ship", "refund", "feedback", "redeem", "cancel", "expiry of points", "referral pending"}, m.want...) {
		if ops[what] == 0 {
			t.Errorf("no %s in %d steps: the model is checked on too little", what, steps)
		}
	}
	t.Logf("operations: %v", ops)
}

// processLikeModel processes the event in the books and in the model, at the
// clock's now, fails the test if their answers differ, and returns the
// answer.
func (e *env) processLikeModel(model *pricemodel.Books, ev loyalty.Event) pricemodel.Answer {
	e.T.Helper()
	answer := model.Process(modelEvent(ev), e.Clock.Now())
	if got, want := describeOutcome(e.ProcessAs(e.Key, ev)), describeAnswer(answer); got != want {
		e.T.Fatalf("%s %s of %s at %s:\n  the books: %s\n  the model: %s", ev.Type, ev.ShipmentID, ev.CustomerID, ev.OccurredAt, got, want)
	}
	return answer
}

// modelEvent is the event as the model takes it.
func modelEvent(ev loyalty.Event) pricemodel.Event {
	return pricemodel.Event{ID: ev.EventID, Type: ev.Type, Customer: ev.CustomerID, Shipment: ev.ShipmentID, At: ev.OccurredAt,
		Amount: ev.Amount, Rating: ev.Rating}
}

// describeOutcome and describeAnswer put the service's answer to an event
// and the model's in one form, field by field, to be compared as strings:
// the refusal's code, or whether it is a replay, the contribution, tier,
// earning, referral, refund, feedback and net points.
func describeOutcome(o loyalty.Outcome) string {
	if o.Err != nil {
		return "refused " + string(fault.CodeOf(o.Err))
	}
	res := o.Result
	var b strings.Builder
	fmt.Fprintf(&b, "replayed=%v", o.Replayed)
	if c := res.Contribution; c != nil {
		describeContribution(&b, string(c.Month), c.Before.Decimal, c.After.Decimal)
	}
	if tier := res.Tier; tier != nil {
		fmt.Fprintf(&b, " tier=%s/L%d", tier.Segment, tier.Level)
	}
	if e := res.Earning; e != nil {
		campaign := ""
		if e.Campaign != nil {
			campaign = *e.Campaign
		}
		describeEarning(&b, e.Multiplier, campaign, e.CampaignMultiplier, e.Volume, e.CampaignPoints, e.Points)
	}
	if r := res.Referral; r != nil {
		describeReferral(&b, r.ReferrerID, r.Status, r.Points, r.AvailableAt)
	}
	if r := res.Refund; r != nil {
		describeRefund(&b, r.Refunded.Decimal, r.TotalRefunded.Decimal, r.PointsDue, r.PointsTakenBack, r.PointsOwed)
	}
	if f := res.Feedback; f != nil {
		fmt.Fprintf(&b, " feedback=%d", f.Points)
	}
	fmt.Fprintf(&b, " points=%d", res.Points)
	return b.String()
}

func describeAnswer(a pricemodel.Answer) string {
	if a.Refused != "" {
		return "refused " + a.Refused
	}
	var b strings.Builder
	fmt.Fprintf(&b, "replayed=%v", a.Replayed)
	if c := a.Contribution; c != nil {
		describeContribution(&b, string(c.Month), c.Before, c.After)
	}
	if tier := a.Tier; tier != nil {
		fmt.Fprintf(&b, " tier=%s/L%d", tier.Segment, tier.Level)
	}
	if e := a.Earning; e != nil {
		describeEarning(&b, e.Multiplier, e.Campaign, e.CampaignMultiplier, e.Volume, e.CampaignPoints, e.Points)
	}
	if r := a.Referral; r != nil {
		describeReferral(&b, r.Referrer, r.Status, r.Points, r.AvailableAt)
	}
	if r := a.Refund; r != nil {
		describeRefund(&b, r.Refunded, r.TotalRefunded, r.Due, r.TakenBack, r.Owed)
	}
	if a.Feedback != 0 {
		fmt.Fprintf(&b, " feedback=%d", a.Feedback)
	}
	fmt.Fprintf(&b, " points=%d", a.Points)
	return b.String()
}

func describeContribution(b *strings.Builder, month string, before, after decimal.Decimal) {
	fmt.Fprintf(b, " contribution=%s:%s->%s", month, before.StringFixed(2), after.StringFixed(2))
}

func describeEarning(b *strings.Builder, multiplier decimal.Decimal, campaign string, campaignMultiplier decimal.Decimal,
	volume, campaignPoints, points int64) {
	fmt.Fprintf(b, " earning=x%s campaign=%q x%s volume=%d campaign_points=%d total=%d",
		multiplier.Rat().RatString(), campaign, campaignMultiplier.Rat().RatString(), volume, campaignPoints, points)
}

// describeReferral: when a capped bonus would have become available is no
// rule's business, so it is left out.
func describeReferral(b *strings.Builder, referrer, status string, points int64, availableAt time.Time) {
	fmt.Fprintf(b, " referral=%s:%s:%d", referrer, status, points)
	if status != "capped" {
		fmt.Fprintf(b, " available_at=%s", availableAt.UTC().Format(time.RFC3339Nano))
	}
}

func describeRefund(b *strings.Builder, refunded, total decimal.Decimal, due, taken, owed int64) {
	fmt.Fprintf(b, " refund=%s total=%s due=%d taken_back=%d owed=%d", refunded.StringFixed(2), total.StringFixed(2), due, taken, owed)
}

// balancesDiffer lists the points accounts whose balance in the books is not
// the model's, one per line; "" when all agree.
func (e *env) balancesDiffer(model *pricemodel.Books) string {
	e.T.Helper()
	rows, err := e.Pool.Query(e.Ctx, `SELECT a.code, sum(b.balance)::bigint FROM balance_buckets b
JOIN accounts a ON a.id = b.account_id WHERE a.asset = 'PTS' GROUP BY a.code`)
	if err != nil {
		e.T.Fatal(err)
	}
	books := map[string]int64{}
	for rows.Next() {
		var code string
		var balance int64
		if err := rows.Scan(&code, &balance); err != nil {
			e.T.Fatal(err)
		}
		books[code] = balance
	}
	if err := rows.Err(); err != nil {
		e.T.Fatal(err)
	}
	want := model.Balances()
	var codes []string
	for code := range books {
		codes = append(codes, code)
	}
	for code := range want {
		if _, ok := books[code]; !ok {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	var diff strings.Builder
	for _, code := range codes {
		if books[code] != want[code] {
			fmt.Fprintf(&diff, "  %s: %d, the model says %d\n", code, books[code], want[code])
		}
	}
	return diff.String()
}

// TestPropertyLateCancellations is TestPropertyPointsEqualLots with more
// spending and refunds, fewer shipments to settle what is owed, and the
// oldest redemption cancelled first: so that refunds fall short of points
// the customer spent, and cancellations put those points back after their
// lots expired. Its seeds are ones that do (each run fails unless it does).
func TestPropertyLateCancellations(t *testing.T) {
	late := mix{ship: 1, refund: 3, feedback: 1, redeem: 4, cancel: 1, time: 2, oldestFirst: true,
		want: []string{"refund short of points", "cancel settling with expired points"}}
	for _, seed := range []uint64{3, 5, 11} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runProperty(t, seed, 250, late)
		})
	}
}
