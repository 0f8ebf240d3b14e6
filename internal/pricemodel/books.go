package pricemodel

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Event types, as partners post them.
const (
	ShipmentCompleted = "shipment.completed"
	ShipmentRefunded  = "shipment.refunded"
	FeedbackSubmitted = "feedback.submitted"
)

// Refusal codes, as the service answers them.
const (
	CodeInvalid             = "invalid"
	CodeInvalidAmount       = "invalid_amount"
	CodeIdempotencyConflict = "idempotency_conflict"
	CodeUnknownCustomer     = "unknown_customer"
	CodeDuplicateShipment   = "duplicate_shipment"
	CodeUnknownShipment     = "unknown_shipment"
	CodeRefundExceeds       = "refund_exceeds_shipment"
	CodeAlreadyRated        = "already_rated"
	CodeBeforeShipment      = "occurred_before_shipment"
	CodeShipmentRefunded    = "shipment_refunded"
	CodeInsufficientPoints  = "insufficient_points"
	CodeNotFound            = "not_found"
	CodeAlreadyCancelled    = "already_cancelled"
)

// Event is a partner's event. Amount is CNY.
type Event struct {
	ID, Type, Customer, Shipment string
	At                           time.Time
	Amount                       *decimal.Decimal
	Rating                       *int
}

// Answer is what an event did.
type Answer struct {
	Refused  string // the refusal's code; "" when the event is recorded
	Replayed bool   // a retry, answered with the first answer

	Contribution *Contribution // shipments and refunds: the month they count in
	Tier         *Tier         // shipments: the tier that priced them
	Earning      *Earning      // shipments
	Referral     *Referral     // a bonus decided or cancelled
	Refund       *Refund       // refunds
	Feedback     int64         // feedback: the points earned
	Points       int64         // the net points the event moved for its customer
}

// Contribution is a month's contribution before and after an event.
type Contribution struct {
	Month         Month
	Before, After decimal.Decimal
}

// Referral is what an event meant for the referrer: a bonus "pending" (paid,
// available at AvailableAt), "capped" (recorded, not paid) or "cancelled"
// (Points is then what was taken back, negative).
type Referral struct {
	Referrer    string
	Status      string
	Points      int64
	Owed        int64 // cancelled: what the referrer had spent of it, and owes
	AvailableAt time.Time
}

// Refund is what a refund was due and took back; Owed is what the
// customer no longer held, and owes.
type Refund struct {
	Refunded, TotalRefunded decimal.Decimal
	Due, TakenBack, Owed    int64
}

// Books is a model of the points books of one partner: customers and their
// referrers, campaigns, shipments, referral bonuses, lots, redemptions and
// the balances of the points accounts (by the domain's account codes). It
// applies events, redemptions, cancellations and expiry runs one at a time,
// in the order given, as the service documents them:
//
//   - an event is recorded once per event id: a retry with the same body
//     answers the first answer, another body is refused; a refused event
//     records nothing;
//   - a refund takes back what TakeBack says, and a refund in full of a
//     rated shipment the rating's points too, but never more than the
//     customer holds available; the rest is owed (the platform gets all that
//     is due, the customer's points_owed account the shortfall);
//   - whoever owes settles, oldest debt first, from their available points,
//     when points reach them (a shipment or a rating of theirs, a cancelled
//     redemption) and before they spend (a refund, a redemption): the
//     settlement moves points from customer:{id}:points to
//     customer:{id}:points_owed;
//   - every credit is a lot; a debit draws from the lots available at that
//     moment that expire soonest (of equal expiry, the older lot first); a
//     cancelled referral bonus takes back what is left of its own lot, and
//     the referrer owes the rest;
type Books struct {
	Rules     Rules
	Campaigns []Campaign

	customers   map[string]*customer
	shipments   map[string]*shipment
	events      map[string]recorded
	bonuses     map[string]*bonus // by referee: one each, ever
	redemptions map[string]*redemption
	balances    map[string]int64

	// ExpiredSettled counts the points cancellations put back expired that
	// settled what was owed.
	ExpiredSettled int64
}

type customer struct {
	id, referredBy string
	months         map[Month]decimal.Decimal // contributions, net of refunds
	lots           []*lot                    // in the order they were created
	debts          []*debt                   // owed by refunds, oldest first
}

// debt is what a refund could not take back, and still has owed.
type debt struct {
	left int64
	at   time.Time // when
	own  bool      // a refund of the customer's own shipment
	lot  *lot      // a referral bonus's cancellation: the bonus's own lot
}

type lot struct {
	remaining          int64
	availableAt, until time.Time
}

type shipment struct {
	customer                 string
	amount, refunded         decimal.Decimal
	at                       time.Time // completed
	month                    Month
	volume, campaign         int64 // the points it earned, by channel
	volumeBack, campaignBack int64 // given back to the platform so far, by channel (taken or owed)
	rated                    bool
	bonus                    *bonus // the referral bonus it decided, if any
}

// bonus is a referral bonus decided by a referee's shipment.
type bonus struct {
	referrer    string
	month       Month
	status      string // paid, capped or cancelled
	points      int64
	availableAt time.Time
	lot         *lot // paid: the bonus's own lot
}

type recorded struct {
	event  Event
	answer Answer
}

type redemption struct {
	customer  string
	draws     []draw
	cancelled bool
}

type draw struct {
	lot    *lot
	points int64
}

// NewBooks is an empty book under the rules.
func NewBooks(r Rules, campaigns ...Campaign) *Books {
	return &Books{Rules: r, Campaigns: campaigns, customers: map[string]*customer{}, shipments: map[string]*shipment{},
		events: map[string]recorded{}, bonuses: map[string]*bonus{}, redemptions: map[string]*redemption{},
		balances: map[string]int64{}}
}

// AddCustomer registers a customer, referred by referredBy ("" for none).
func (b *Books) AddCustomer(id, referredBy string) {
	b.customers[id] = &customer{id: id, referredBy: referredBy, months: map[Month]decimal.Decimal{}}
}

// Balances are the points accounts' balances by the domain's account codes
// (customer:{id}:points, customer:{id}:points_owed, platform:points:earned:{channel},
// platform:points:redeemed, platform:points:expired), credits to a customer
// positive, so that they sum to zero. Accounts never moved are absent.
func (b *Books) Balances() map[string]int64 {
	out := make(map[string]int64, len(b.balances))
	for code, v := range b.balances {
		out[code] = v
	}
	return out
}

// Process applies a partner event at now (which decides what points are
// available to take back).
func (b *Books) Process(ev Event, now time.Time) Answer {
	if code := invalid(ev); code != "" {
		return Answer{Refused: code}
	}
	ev.At = ev.At.UTC().Truncate(time.Microsecond) // the precision the service keeps
	if rec, ok := b.events[ev.ID]; ok {
		if !sameBody(rec.event, ev) {
			return Answer{Refused: CodeIdempotencyConflict}
		}
		a := rec.answer
		a.Replayed = true
		return a
	}
	c, ok := b.customers[ev.Customer]
	if !ok {
		return Answer{Refused: CodeUnknownCustomer}
	}
	var a Answer
	switch ev.Type {
	case ShipmentCompleted:
		a = b.shipment(c, ev, now)
	case ShipmentRefunded:
		a = b.refund(c, ev, now)
	case FeedbackSubmitted:
		a = b.feedback(c, ev, now)
	}
	if a.Refused == "" {
		b.events[ev.ID] = recorded{ev, a}
	}
	return a
}

// invalid is what is wrong with the event on its own (only what the model
// needs: a known type, a positive amount in fen, a rating from 1 to 5).
func invalid(ev Event) string {
	switch ev.Type {
	case ShipmentCompleted, ShipmentRefunded:
		if ev.Amount == nil || !ev.Amount.IsPositive() || ev.Rating != nil {
			return CodeInvalid
		}
		if !ev.Amount.Equal(ev.Amount.Truncate(2)) {
			return CodeInvalidAmount
		}
	case FeedbackSubmitted:
		if ev.Rating == nil || *ev.Rating < 1 || *ev.Rating > 5 || ev.Amount != nil {
			return CodeInvalid
		}
	default:
		return CodeInvalid
	}
	return ""
}

func sameBody(a, b Event) bool {
	return a.Type == b.Type && a.Customer == b.Customer && a.Shipment == b.Shipment && a.At.Equal(b.At) &&
		(a.Amount == nil) == (b.Amount == nil) && (a.Amount == nil || a.Amount.Equal(*b.Amount)) &&
		(a.Rating == nil) == (b.Rating == nil) && (a.Rating == nil || *a.Rating == *b.Rating)
}

// shipment: the tier from last month's total and this month's so far, the
// points, the contribution, and the referrer's bonus on the referee's first
// shipment of at least the minimum (once; capped past the monthly cap).
func (b *Books) shipment(c *customer, ev Event, now time.Time) Answer {
	if _, done := b.shipments[ev.Shipment]; done {
		return Answer{Refused: CodeDuplicateShipment}
	}
	r, amount := b.Rules, *ev.Amount
	month := r.MonthOf(ev.At)
	before := c.months[month]
	tier := r.TierInEffect(c.months[month.Prev()], before)
	e := r.Earn(amount, tier.Segment, ev.At, b.Campaigns)
	b.credit(c.id, e.Points, ev.At, ev.At)
	b.balances["platform:points:earned:volume"] -= e.Volume
	b.balances["platform:points:earned:campaign"] -= e.CampaignPoints
	if e.Points > 0 {
		b.settle(c, now)
	}
	c.months[month] = before.Add(amount)
	s := &shipment{customer: c.id, amount: amount, at: ev.At, month: month, volume: e.Volume, campaign: e.CampaignPoints}
	b.shipments[ev.Shipment] = s
	a := Answer{Contribution: &Contribution{month, before, before.Add(amount)}, Tier: &tier, Earning: &e, Points: e.Points}

	if c.referredBy == "" {
		return a
	}
	status, points := r.Referral(amount, b.bonuses[c.id] != nil, b.paidIn(c.referredBy, month))
	if status == "" {
		return a
	}
	bn := &bonus{referrer: c.referredBy, month: month, status: "capped", availableAt: r.PendingUntil(ev.At)}
	b.bonuses[c.id], s.bonus = bn, bn
	a.Referral = &Referral{Referrer: bn.referrer, Status: status, Points: points, AvailableAt: bn.availableAt}
	if status == "pending" {
		bn.status, bn.points = "paid", points
		bn.lot = b.credit(bn.referrer, points, bn.availableAt, ev.At)
		b.balances["platform:points:earned:referral"] -= points
	}
	return a
}

// paidIn is how many bonuses the referrer was paid, and keeps, for
// referees' shipments in the month.
func (b *Books) paidIn(referrer string, month Month) int {
	n := 0
	for _, bn := range b.bonuses {
		if bn.status == "paid" && bn.referrer == referrer && bn.month == month {
			n++
		}
	}
	return n
}

// refund lowers the shipment month's contribution and takes back points in
// proportion; a full refund inside the return window cancels the referral
// bonus the shipment paid.
func (b *Books) refund(c *customer, ev Event, now time.Time) Answer {
	s := b.shipments[ev.Shipment]
	if s == nil || s.customer != c.id {
		return Answer{Refused: CodeUnknownShipment}
	}
	if ev.At.Before(s.at) {
		return Answer{Refused: CodeBeforeShipment}
	}
	amount := *ev.Amount
	total := s.refunded.Add(amount)
	if total.GreaterThan(s.amount) {
		return Answer{Refused: CodeRefundExceeds}
	}
	b.settle(c, now) // older debts first
	shipmentDue := TakeBack(s.volume+s.campaign, s.amount, total, s.volumeBack+s.campaignBack)
	due := shipmentDue
	if s.rated && total.Equal(s.amount) { // refunded in full: the rating's points go back too
		due += b.Rules.FeedbackPoints
		b.balances["platform:points:earned:feedback"] += b.Rules.FeedbackPoints
	}
	take := min(due, b.available(c.id, now))
	b.draw(c.id, take, now)
	b.balances["customer:"+c.id+":points"] -= take
	if owed := due - take; owed > 0 {
		b.balances["customer:"+c.id+":points_owed"] -= owed
		c.debts = append(c.debts, &debt{left: owed, at: now, own: true})
	}
	fromVolume := min(shipmentDue, s.volume-s.volumeBack) // the volume channel first
	b.balances["platform:points:earned:volume"] += fromVolume
	b.balances["platform:points:earned:campaign"] += shipmentDue - fromVolume
	s.volumeBack += fromVolume
	s.campaignBack += shipmentDue - fromVolume
	s.refunded = total
	before := c.months[s.month]
	c.months[s.month] = before.Sub(amount)
	a := Answer{Contribution: &Contribution{s.month, before, before.Sub(amount)},
		Refund: &Refund{Refunded: amount, TotalRefunded: total, Due: due, TakenBack: take, Owed: due - take}, Points: -take}

	if bn := s.bonus; total.Equal(s.amount) && bn != nil && bn.status == "paid" && ev.At.Before(bn.availableAt) {
		back := min(bn.points, bn.lot.remaining) // what the referrer spent of it, they owe
		bn.lot.remaining -= back
		b.balances["customer:"+bn.referrer+":points"] -= back
		b.balances["platform:points:earned:referral"] += bn.points
		if owed := bn.points - back; owed > 0 {
			b.balances["customer:"+bn.referrer+":points_owed"] -= owed
			r := b.customers[bn.referrer]
			r.debts = append(r.debts, &debt{left: owed, at: now, lot: bn.lot})
		}
		bn.status = "cancelled"
		a.Referral = &Referral{Referrer: bn.referrer, Status: "cancelled", Points: -back, Owed: bn.points - back,
			AvailableAt: bn.availableAt}
	}
	return a
}

// feedback earns the feedback points, once per shipment.
func (b *Books) feedback(c *customer, ev Event, now time.Time) Answer {
	s := b.shipments[ev.Shipment]
	if s == nil || s.customer != c.id {
		return Answer{Refused: CodeUnknownShipment}
	}
	if ev.At.Before(s.at) {
		return Answer{Refused: CodeBeforeShipment}
	}
	if s.rated {
		return Answer{Refused: CodeAlreadyRated}
	}
	if s.refunded.Equal(s.amount) { // refunded in full: no rating
		return Answer{Refused: CodeShipmentRefunded}
	}
	s.rated = true
	points := b.Rules.FeedbackPoints
	b.credit(c.id, points, ev.At, ev.At)
	b.balances["platform:points:earned:feedback"] -= points
	b.settle(c, now)
	return Answer{Feedback: points, Points: points}
}

// credit gives the customer a lot of points, available from availableAt,
// expiring per the rules from earnedAt. The other side is the caller's.
func (b *Books) credit(customerID string, points int64, availableAt, earnedAt time.Time) *lot {
	if points <= 0 {
		return nil
	}
	c := b.customers[customerID]
	l := &lot{remaining: points, availableAt: availableAt, until: b.Rules.ExpiresAt(earnedAt)}
	c.lots = append(c.lots, l)
	b.balances["customer:"+customerID+":points"] += points
	return l
}

// settle pays what the customer owes, oldest debt first, from their
// available points at now.
func (b *Books) settle(c *customer, now time.Time) {
	pay := min(b.Owed(c.id), b.available(c.id, now))
	if pay <= 0 {
		return
	}
	b.draw(c.id, pay, now)
	b.balances["customer:"+c.id+":points"] -= pay
	b.balances["customer:"+c.id+":points_owed"] += pay
	for _, d := range c.debts {
		part := min(pay, d.left)
		d.left -= part
		pay -= part
	}
	c.debts = slices.DeleteFunc(c.debts, func(d *debt) bool { return d.left == 0 })
}

// Owed is what the customer owes.
func (b *Books) Owed(customerID string) int64 {
	var owed int64
	for _, d := range b.customers[customerID].debts {
		owed += d.left
	}
	return owed
}

func usable(l *lot, now time.Time) bool { return !l.availableAt.After(now) && l.until.After(now) }

// available is what the customer may spend at now: lots available and not
// expired.
func (b *Books) available(customerID string, now time.Time) int64 {
	var sum int64
	for _, l := range b.customers[customerID].lots {
		if usable(l, now) {
			sum += l.remaining
		}
	}
	return sum
}

// draw takes points from the customer's usable lots, soonest expiry first
// (of equal expiry, the older lot), and says what came from where. The
// caller has checked there are enough; the other side is the caller's.
func (b *Books) draw(customerID string, points int64, now time.Time) []draw {
	lots := slices.Clone(b.customers[customerID].lots)
	slices.SortStableFunc(lots, func(x, y *lot) int { return x.until.Compare(y.until) })
	var draws []draw
	for _, l := range lots {
		if points == 0 {
			break
		}
		if !usable(l, now) || l.remaining == 0 {
			continue
		}
		take := min(points, l.remaining)
		l.remaining -= take
		points -= take
		draws = append(draws, draw{l, take})
	}
	if points != 0 {
		panic("pricemodel: drew more than is available")
	}
	return draws
}

// Redeem spends points of the customer's at now, under the id, once what
// they owe is settled; refused (CodeInsufficientPoints, and nothing
// settled) when fewer are available then. Whether the product may be
// redeemed at all is the caller's to decide.
func (b *Books) Redeem(id, customerID string, points int64, now time.Time) string {
	c, ok := b.customers[customerID]
	if !ok {
		return CodeUnknownCustomer
	}
	if b.available(customerID, now)-min(b.Owed(customerID), b.available(customerID, now)) < points {
		return CodeInsufficientPoints
	}
	b.settle(c, now)
	b.redemptions[id] = &redemption{customer: customerID, draws: b.draw(customerID, points, now)}
	b.balances["customer:"+customerID+":points"] -= points
	b.balances["platform:points:redeemed"] += points
	return ""
}

// CancelRedemption puts the points back into the lots they came from, with
// their original expiry (an expired lot gets them back expired), and then
// settles at now what the customer owes: first from the points put back
// expired, then from the available points.
//
// Points put back expired settle only what the redemption left owed: had
// it not been, a refund of the customer's own shipment would have taken
// back the points of lots that had not expired by then, and a cancelled
// referral bonus those of its own lot. (Every debt open is one left after
// the redemption: a redemption settles what is owed first, and is refused
// unless it can.) Oldest debt first, each from the soonest-expiring of
// those lots.
func (b *Books) CancelRedemption(id string, now time.Time) string {
	r, ok := b.redemptions[id]
	switch {
	case !ok:
		return CodeNotFound
	case r.cancelled:
		return CodeAlreadyCancelled
	}
	r.cancelled = true
	for _, d := range r.draws {
		d.lot.remaining += d.points
		b.balances["customer:"+r.customer+":points"] += d.points
		b.balances["platform:points:redeemed"] -= d.points
	}
	c := b.customers[r.customer]
	returned := slices.Clone(r.draws) // what each lot got back
	slices.SortStableFunc(returned, func(x, y draw) int { return x.lot.until.Compare(y.lot.until) })
	var pay int64
	for _, d := range c.debts {
		for i := range returned {
			l := returned[i].lot
			if l.until.After(now) || !l.until.After(d.at) || !d.own && d.lot != l {
				continue
			}
			part := min(d.left, returned[i].points)
			returned[i].points -= part
			l.remaining -= part
			d.left -= part
			pay += part
		}
	}
	c.debts = slices.DeleteFunc(c.debts, func(d *debt) bool { return d.left == 0 })
	b.ExpiredSettled += pay
	b.balances["customer:"+r.customer+":points"] -= pay
	b.balances["customer:"+r.customer+":points_owed"] += pay
	b.settle(c, now)
	return ""
}

// Expire expires, per customer, every remaining point of the lots that
// expire at or before asOf, and says how many points of how many customers.
func (b *Books) Expire(asOf time.Time) (points int64, customers int) {
	for id, c := range b.customers {
		var sum int64
		for _, l := range c.lots {
			if !l.until.After(asOf) {
				sum += l.remaining
				l.remaining = 0
			}
		}
		if sum > 0 {
			b.balances["customer:"+id+":points"] -= sum
			b.balances["platform:points:expired"] += sum
			points += sum
			customers++
		}
	}
	return points, customers
}
