package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/pricemodel"
)

// The customers of the run. K customers are shared by every worker and
// earn in the month of t0; E customers earn only on shipments dated in the
// month before. Their lots all expire months after the run, and an expiry
// job never acts ahead of now. X customers do nothing in the run: before it
// they are given xLots lots of xLotPoints points by hand in the ledger,
// which expired at boundary, boundary + xLotStep, ...: the expiry runs, as
// of boundary + n seconds, take them a few at a time, and the last run takes
// what is left. Each worker has an O customer of its own, whom it drives
// into debt: a large shipment, a redemption of all the customer holds, a
// refund of that shipment (its points already spent: owed), and the next
// shipment (which settles what is owed first).
var (
	kCustomers = names("K", 12)
	eCustomers = names("E", 4)
	xCustomers = names("X", 4)
	oCustomers = names("O", workerCount)
)

// workerCount is how many workers a run has.
const workerCount = 8

const (
	xLots      = 8
	xLotPoints = 25
	xLotStep   = time.Second
)

// xHeldAfter is what an X customer holds once every lot expiring by asOf
// has been expired.
func xHeldAfter(boundary, asOf time.Time) int64 {
	var held int64
	for k := range xLots {
		if boundary.Add(time.Duration(k) * xLotStep).After(asOf) {
			held += xLotPoints
		}
	}
	return held
}

func isX(customer string) bool { return customer[0] == 'X' }

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

func isE(customer string) bool { return customer[0] == 'E' }

// Product "gift" costs giftPrice points a unit.
const giftPrice = 50

// scene is what every worker shares: the rules the run is judged by, the
// instants of the run and the campaigns it created.
type scene struct {
	rules     pricemodel.Rules
	t0        time.Time // every K event occurs at t0
	boundary  time.Time // when the first of the X customers' lots expired, an hour before t0
	campaigns []pricemodel.Campaign
}

// op is one operation a client sends until it gets a definitive answer.
type op struct {
	kind         string // shipment, refund, feedback, batch, deposit, charge, withdrawal, redemption, cancel, reversal, expiry
	id           string // its own id: event, movement or redemption id
	method, path string
	body         []byte // nil: none
	customer     string
	amount       decimal.Decimal
	at           time.Time // an event's occurred_at
	rating       int
	quantity     int
	asOf         time.Time // expiry

	ship *shipment   // shipment (itself), refund, feedback
	red  *redemption // redemption (itself), cancel
	mov  *movement   // deposit, charge, withdrawal (itself), reversal

	// What may come back: a 2xx when ok, a refusal with one of codes.
	ok    bool
	codes []string

	items    []*op   // a batch's events
	replayOf *answer // a deliberate replay: the answer it must repeat
}

// answer is one definitive answer to an operation (for a batch: to one of
// its events).
type answer struct {
	op       *op
	status   int
	code     string // a refusal's problem code
	body     []byte // the body; for a batch event, its result or problem
	replayed bool   // Idempotent-Replayed, or the batch item's replayed
	unseen   bool   // an earlier attempt failed: it may have done the operation unheard
	batch    bool   // answered inside a batch
	original *answer
}

func (a *answer) acked() bool { return a.status >= 200 && a.status < 300 }

// Worker-owned things: a worker refunds and rates only its own shipments,
// cancels its own redemptions and reverses its own movements, so it knows
// what to expect of them.
type shipment struct {
	id, customer string
	amount       decimal.Decimal
	at           time.Time
	refunded     decimal.Decimal // by acknowledged refunds
	rated        bool
}

type redemption struct {
	id, customer string
	cancelled    bool
}

type movement struct {
	kind, id, customer string
	reversed           bool
}

// worker is one partner: it sends operations one at a time and keeps every
// answer, in order, for the oracle.
type worker struct {
	n     int
	r     *rand.Rand
	c     *client
	sc    *scene
	seq   *atomic.Int64
	acked *atomic.Int64
	fails func(format string, args ...any)

	shipments   []*shipment
	own         []*shipment // of the worker's O customer
	ownStep     int
	redemptions []*redemption
	movements   []*movement
	replayable  [2][]*answer // acknowledged events; movements and redemptions
	log         []*answer
	batches     int
}

// until says when the run ends: at stop if target operations have been
// acknowledged by then, otherwise once they have, at the latest at limit (a
// busy machine gets a longer run, not a weaker one).
type until struct {
	stop, limit time.Time
	target      int64
	acked       atomic.Int64
}

func (u *until) over() bool {
	now := time.Now()
	return now.After(u.limit) || now.After(u.stop) && u.acked.Load() >= u.target
}

func (w *worker) run(u *until) {
	for !u.over() {
		o := w.next()
		if o.kind == "batch" {
			if !w.batch(o) {
				return
			}
			continue
		}
		rep, unseen, ok := w.c.do(o.method, o.path, o.body, w.r)
		if !ok {
			return
		}
		a := &answer{op: o, status: rep.status, body: rep.body, replayed: rep.replayed, unseen: unseen, original: o.replayOf}
		w.readCode(a)
		w.log = append(w.log, a)
		if o.replayOf == nil {
			w.learn(a)
		}
	}
}

// readCode reads a refusal's code.
func (w *worker) readCode(a *answer) {
	if a.status < 400 {
		return
	}
	p, err := problemOf(a.body)
	if err != nil {
		w.fails("%s %s: %d answer is not a problem document: %s", a.op.kind, a.op.id, a.status, oneLine(a.body))
	}
	a.code = p.Code
}

// learn keeps what an answer tells the worker about its own things.
func (w *worker) learn(a *answer) {
	o := a.op
	if a.acked() {
		w.acked.Add(1)
		switch o.kind {
		case "shipment":
			w.shipments = append(w.shipments, o.ship)
			if o.customer == oCustomers[w.n] {
				w.own = append(w.own, o.ship)
			}
			w.replayable[0] = append(w.replayable[0], a)
		case "refund":
			o.ship.refunded = o.ship.refunded.Add(o.amount)
			w.replayable[0] = append(w.replayable[0], a)
		case "feedback":
			o.ship.rated = true
			w.replayable[0] = append(w.replayable[0], a)
		case "deposit", "charge", "withdrawal":
			w.movements = append(w.movements, o.mov)
			w.replayable[1] = append(w.replayable[1], a)
		case "redemption":
			w.redemptions = append(w.redemptions, o.red)
			w.replayable[1] = append(w.replayable[1], a)
		}
	}
	// A cancellation or reversal answered "already done" after a lost
	// answer was most likely done by that lost attempt; the oracle checks.
	switch {
	case o.kind == "cancel" && (a.acked() || a.code == "already_cancelled"):
		o.red.cancelled = true
	case o.kind == "reversal" && (a.acked() || a.code == "already_reversed"):
		o.mov.reversed = true
	}
}

// next draws the next operation.
func (w *worker) next() *op {
	for {
		var o *op
		switch n := w.r.IntN(100); {
		case n < 20:
			o = w.single(w.newShipment())
		case n < 27:
			o = w.single(w.refund(w.pick(), nil))
		case n < 30:
			o = w.single(w.feedback(w.pick(), nil, nil))
		case n < 40:
			o = w.newBatch()
		case n < 51:
			o = w.money("deposit", w.depositAmount())
		case n < 60:
			o = w.money("charge", w.amount(3000))
		case n < 66:
			o = w.money("withdrawal", w.amount(3000))
		case n < 75:
			o = w.redeem()
		case n < 80:
			o = w.cancel()
		case n < 86:
			o = w.reverse()
		case n < 92:
			o = w.intoDebt()
		default:
			o = w.replay()
		}
		if o != nil {
			return o
		}
	}
}

// intoDebt is the next step of the worker's O customer's cycle: a large
// shipment; a redemption of every gift what the customer holds pays for
// (read from the API: only this worker moves this customer's points); a
// full refund of one of the customer's shipments, whose points are then
// mostly spent, so owed; and round again, the next shipment settling what
// is owed.
func (w *worker) intoDebt() *op {
	customer := oCustomers[w.n]
	step := w.ownStep
	w.ownStep = (w.ownStep + 1) % 3
	switch step {
	case 0:
		id := w.nextID("ev")
		amount := w.amount(3000)
		return w.single(&op{kind: "shipment", id: id, customer: customer, amount: amount, at: w.sc.t0,
			ship: &shipment{id: "S" + id, customer: customer, amount: amount, at: w.sc.t0}, ok: true})
	case 1:
		rep, err := w.c.send("GET", "/v1/customers/"+customer+"/balances", nil)
		var b customerBalances
		if err != nil || rep.status != 200 || json.Unmarshal(rep.body, &b) != nil || b.Points.Balance < giftPrice {
			return nil // a disruption, or nothing to spend: the next step
		}
		id := w.nextID("rd")
		q := int(b.Points.Balance / giftPrice)
		return &op{kind: "redemption", id: id, method: "POST", path: "/v1/redemptions", customer: customer, quantity: q,
			body: mustJSON(map[string]any{"redemption_id": id, "customer_id": customer, "sku": "gift", "quantity": q}),
			red:  &redemption{id: id, customer: customer}, ok: true, codes: []string{"insufficient_points"}}
	default:
		if len(w.own) == 0 {
			return nil
		}
		return w.single(w.refund(w.own[w.r.IntN(len(w.own))], nil))
	}
}

func (w *worker) nextID(prefix string) string {
	return fmt.Sprintf("%s-w%d-%d", prefix, w.n, w.seq.Add(1))
}

func (w *worker) customer() string {
	return kCustomers[w.r.IntN(len(kCustomers))]
}

// amount is a CNY amount from 1.00 to max.99.
func (w *worker) amount(max int) decimal.Decimal {
	return decimal.New(int64(100+w.r.IntN(max*100)), -2)
}

// depositAmount covers every rebate tier and its edges.
func (w *worker) depositAmount() decimal.Decimal {
	edges := []string{"999.99", "1000", "4999.99", "5000", "9999.99", "10000", "49999.99", "50000"}
	switch w.r.IntN(6) {
	case 0:
		return decimal.RequireFromString(edges[w.r.IntN(len(edges))])
	case 1:
		return w.amount(999)
	case 2:
		return w.amount(5000)
	case 3:
		return w.amount(10000)
	case 4:
		return w.amount(50000)
	}
	return w.amount(80000)
}

func (w *worker) pick() *shipment {
	if len(w.shipments) == 0 {
		return nil
	}
	return w.shipments[w.r.IntN(len(w.shipments))]
}

// eventAt is when a shipment's events occur: t0 for a K customer; for an E
// customer, in the month before t0's, at most 20 days before it ends.
func (w *worker) eventAt(customer string) time.Time {
	if !isE(customer) {
		return w.sc.t0
	}
	back := time.Hour + time.Duration(w.r.Int64N(int64(19*24*time.Hour)))
	return w.sc.rules.MonthStart(w.sc.rules.MonthOf(w.sc.t0)).Add(-back).Truncate(time.Microsecond)
}

func (w *worker) newShipment() *op {
	id := w.nextID("ev")
	customer := w.customer()
	if w.r.IntN(4) == 0 {
		customer = eCustomers[w.r.IntN(len(eCustomers))]
	}
	at := w.eventAt(customer)
	amount := w.amount(3000)
	sh := &shipment{id: "S" + id, customer: customer, amount: amount, at: at}
	return &op{kind: "shipment", id: id, customer: customer, amount: amount, at: at, ship: sh, ok: true}
}

// refund refunds part of the worker's shipment sh, all of what is left, or
// (sometimes) more than is left, which must be refused. planned holds what
// earlier events of the same batch refund.
func (w *worker) refund(sh *shipment, planned map[*shipment]decimal.Decimal) *op {
	if sh == nil {
		return nil
	}
	left := sh.amount.Sub(sh.refunded).Sub(planned[sh])
	o := &op{kind: "refund", id: w.nextID("rf"), customer: sh.customer, at: sh.at, ship: sh}
	leftFen := left.Shift(2).IntPart() // amounts are whole fen
	switch n := w.r.IntN(100); {
	case n < 15 || leftFen == 0:
		o.amount = left.Add(decimal.New(int64(1+w.r.IntN(1000)), -2))
		o.codes = []string{"refund_exceeds_shipment"}
		return o
	case n < 35:
		o.amount = left
	default:
		o.amount = decimal.New(1+w.r.Int64N(leftFen), -2)
	}
	o.ok = true
	if planned != nil {
		planned[sh] = planned[sh].Add(o.amount)
	}
	return o
}

// feedback rates the worker's shipment sh: once, then already_rated; a
// shipment refunded in full (counting the refunds planned before it in its
// batch) is shipment_refunded.
func (w *worker) feedback(sh *shipment, planned map[*shipment]bool, refunds map[*shipment]decimal.Decimal) *op {
	if sh == nil {
		return nil
	}
	o := &op{kind: "feedback", id: w.nextID("fb"), customer: sh.customer, at: sh.at, ship: sh,
		rating: 1 + w.r.IntN(5)}
	switch {
	case sh.rated || planned[sh]:
		o.codes = []string{"already_rated"}
	case sh.refunded.Add(refunds[sh]).Equal(sh.amount):
		o.codes = []string{"shipment_refunded"}
		return o
	default:
		o.ok = true
	}
	if planned != nil {
		planned[sh] = true
	}
	return o
}

// event is an event op's JSON object.
func (o *op) event() map[string]any {
	ev := map[string]any{"event_id": o.id, "customer_id": o.customer, "occurred_at": o.at.Format(time.RFC3339Nano)}
	switch o.kind {
	case "shipment":
		ev["type"], ev["shipment_id"], ev["amount"] = "shipment.completed", o.ship.id, o.amount.StringFixed(2)
	case "refund":
		ev["type"], ev["shipment_id"], ev["amount"] = "shipment.refunded", o.ship.id, o.amount.StringFixed(2)
	case "feedback":
		ev["type"], ev["shipment_id"], ev["rating"] = "feedback.submitted", o.ship.id, o.rating
	}
	return ev
}

// single makes an event op a POST of its own.
func (w *worker) single(o *op) *op {
	if o == nil {
		return nil
	}
	o.method, o.path, o.body = "POST", "/v1/events", mustJSON(o.event())
	return o
}

// newBatch is 10 to 60 events: new shipments, refunds and ratings of the
// worker's shipments, each also given its single form (for replays).
func (w *worker) newBatch() *op {
	refunds, ratings := map[*shipment]decimal.Decimal{}, map[*shipment]bool{}
	b := &op{kind: "batch", method: "POST", path: "/v1/events/batch"}
	var events []any
	for range 10 + w.r.IntN(51) {
		var o *op
		switch n := w.r.IntN(100); {
		case n < 60:
			o = w.newShipment()
		case n < 85:
			o = w.refund(w.pick(), refunds)
		default:
			o = w.feedback(w.pick(), ratings, refunds)
		}
		if o == nil {
			continue
		}
		w.single(o)
		b.items = append(b.items, o)
		events = append(events, o.event())
	}
	if len(events) == 0 {
		return nil
	}
	b.body = mustJSON(map[string]any{"events": events})
	return b
}

// batch sends a batch until every event in it has a definitive answer:
// events answered 5xx are sent again in the same batch, whose other events
// then replay (and must repeat their first answer).
func (w *worker) batch(b *op) bool {
	w.batches++
	first := make([]*answer, len(b.items))
	retried := make([]bool, len(b.items))
	for round := 0; ; round++ {
		if round > 100 {
			w.fails("batch %s: events still failing after %d rounds", b.items[0].id, round)
			return false
		}
		rep, unseen, ok := w.c.do(b.method, b.path, b.body, w.r)
		if !ok {
			return false
		}
		if rep.status != 200 {
			w.fails("batch of %d events from %s: %d %s", len(b.items), b.items[0].id, rep.status, oneLine(rep.body))
			return false
		}
		var res struct {
			Results []struct {
				Index    int             `json:"index"`
				Status   int             `json:"status"`
				Replayed bool            `json:"replayed"`
				Result   json.RawMessage `json:"result"`
				Problem  json.RawMessage `json:"problem"`
			} `json:"results"`
		}
		if err := json.Unmarshal(rep.body, &res); err != nil || len(res.Results) != len(b.items) {
			w.fails("batch from %s: %d items for %d events (%v): %s", b.items[0].id, len(res.Results), len(b.items), err, oneLine(rep.body))
			return false
		}
		again := false
		for i, it := range res.Results {
			o := b.items[i]
			if it.Index != i {
				w.fails("batch item %d answers index %d", i, it.Index)
			}
			if it.Status >= 500 {
				w.c.serverError(time.Now(), "batch event "+o.id, it.Status, it.Problem)
				retried[i], again = true, true
				continue
			}
			body := []byte(it.Result)
			if it.Status >= 300 {
				body = it.Problem
			}
			a := &answer{op: o, status: it.Status, body: body, replayed: it.Replayed, unseen: unseen || retried[i], batch: true,
				original: first[i]}
			w.readCode(a)
			w.log = append(w.log, a)
			if first[i] == nil {
				first[i] = a
				w.learn(a)
			}
		}
		if !again {
			return true
		}
		time.Sleep(time.Duration(50+w.r.IntN(150)) * time.Millisecond)
	}
}

func (w *worker) money(kind string, amount decimal.Decimal) *op {
	id := w.nextID(kind[:2])
	customer := w.customer()
	if w.r.IntN(5) == 0 {
		customer = eCustomers[w.r.IntN(len(eCustomers))]
	}
	body := map[string]any{kind + "_id": id, "customer_id": customer, "amount": amount.StringFixed(2)}
	o := &op{kind: kind, id: id, method: "POST", path: "/v1/" + kind + "s", customer: customer, amount: amount,
		mov: &movement{kind: kind, id: id, customer: customer}, ok: true}
	switch kind {
	case "charge":
		body["shipment_id"] = "SC" + id
		o.codes = []string{"insufficient_funds"}
	case "withdrawal":
		o.codes = []string{"insufficient_funds"}
	}
	o.body = mustJSON(body)
	return o
}

func (w *worker) redeem() *op {
	id := w.nextID("rd")
	customer := w.customer()
	if w.r.IntN(5) == 0 {
		customer = eCustomers[w.r.IntN(len(eCustomers))]
	}
	q := 1 + w.r.IntN(3)
	if w.r.IntN(4) == 0 {
		// Up to 10,000 points: a customer who can pay is drained, so that
		// refunds meet points already spent (owed, then settled).
		q = 1 + w.r.IntN(200)
	}
	return &op{kind: "redemption", id: id, method: "POST", path: "/v1/redemptions", customer: customer, quantity: q,
		body: mustJSON(map[string]any{"redemption_id": id, "customer_id": customer, "sku": "gift", "quantity": q}),
		red:  &redemption{id: id, customer: customer}, ok: true, codes: []string{"insufficient_points"}}
}

// cancel cancels one of the worker's redemptions: once, then
// already_cancelled.
func (w *worker) cancel() *op {
	if len(w.redemptions) == 0 {
		return nil
	}
	red := w.redemptions[w.r.IntN(len(w.redemptions))]
	o := &op{kind: "cancel", id: red.id, method: "POST", path: "/v1/redemptions/" + red.id + "/cancel",
		body: mustJSON(map[string]any{"reason": "chaos"}), customer: red.customer, red: red}
	if red.cancelled {
		o.codes = []string{"already_cancelled"}
	} else {
		o.ok = true
	}
	return o
}

// reverse reverses one of the worker's movements (admin): once, then
// already_reversed; none a later withdrawal was priced with, nor a deposit
// whose money was spent since, nor a charge or a withdrawal whose principal
// a later charge would have spent in place of rebate.
func (w *worker) reverse() *op {
	if len(w.movements) == 0 {
		return nil
	}
	m := w.movements[w.r.IntN(len(w.movements))]
	o := &op{kind: "reversal", id: m.id, method: "POST", path: "/v1/" + m.kind + "s/" + m.id + "/reversal",
		body: mustJSON(map[string]any{"reason": "chaos"}), customer: m.customer, mov: m}
	switch {
	case m.reversed:
		o.codes = []string{"already_reversed"}
	case m.kind == "deposit":
		o.ok, o.codes = true, []string{"insufficient_funds", "withdrawn_since"}
	default:
		o.ok, o.codes = true, []string{"withdrawn_since", "rebate_drawn_since"}
	}
	return o
}

// replay sends one of the worker's acknowledged requests again, as it was
// first sent (an event first sent in a batch goes alone): as often an event
// as a movement or redemption, though events are many more.
func (w *worker) replay() *op {
	list := w.replayable[w.r.IntN(2)]
	if len(list) == 0 {
		return nil
	}
	return replayOf(list[w.r.IntN(len(list))])
}

func replayOf(a *answer) *op {
	o := *a.op
	o.replayOf = a
	return &o
}

// expiryOp runs the expiry job as of boundary + n seconds: each run has its
// own as_of, which its entries carry in their metadata.
func expiryOp(boundary time.Time, n int) *op {
	asOf := boundary.Add(time.Duration(n) * time.Second).UTC()
	return &op{kind: "expiry", id: fmt.Sprintf("expiry-%d", n), method: "POST",
		path: "/v1/jobs/expire?as_of=" + url.QueryEscape(asOf.Format(time.RFC3339Nano)), asOf: asOf, ok: true}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func contains(codes []string, code string) bool { return slices.Contains(codes, code) }
