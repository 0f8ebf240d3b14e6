package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/pricemodel"
)

// oracle judges every answer of the run after it, against the independent
// model of the rules (internal/pricemodel, never the code under test) and the
// books (books_test.go), and keeps a model of every customer's balances built
// from the answers it accepted.
type oracle struct {
	b    *books
	sc   *scene
	fail func(format string, args ...any)

	ships     map[string]*shipModel      // by shipment id
	changes   map[string][]change        // customer|month: contribution changes answered
	points    map[string]int64           // customer: points, by the model
	owed      map[string]int64           // customer: points owed by acknowledged refunds
	refunds   map[string]int64           // refund entry:customer: the points it answered owed
	principal map[string]decimal.Decimal // customer: prepaid principal, by the model
	rebate    map[string]decimal.Decimal // customer: rebate, by the model
	cancels   map[string]int             // redemption: cancellations acknowledged
	reverses  map[string]int             // kind:id: reversals acknowledged
	expired   map[string]expiryRun       // as_of: what the runs with it answered

	// Counts for the summary.
	byKind                                                map[string][2]int
	acked, checked, refusals, unheard, replays, byteEqual int
	lost, duplicated, wrongly                             int
}

type shipModel struct {
	customer, month    string
	amount             decimal.Decimal
	points             int64
	refunded           decimal.Decimal // by acknowledged refunds
	asked, taken, owed int64
	rated              bool
}

type change struct{ before, after decimal.Decimal }

type expiryRun struct {
	points    int64
	customers int
	unseen    bool
}

func newOracle(b *books, sc *scene, fail func(string, ...any)) *oracle {
	return &oracle{b: b, sc: sc, fail: fail, ships: map[string]*shipModel{}, changes: map[string][]change{},
		points: map[string]int64{}, owed: map[string]int64{}, refunds: map[string]int64{}, principal: map[string]decimal.Decimal{}, rebate: map[string]decimal.Decimal{}, cancels: map[string]int{},
		reverses: map[string]int{}, expired: map[string]expiryRun{}, byKind: map[string][2]int{}}
}

// judge decides one answer: a 2xx only where the operation may succeed, and
// then its content; a refusal only with a code expected for the request.
func (o *oracle) judge(a *answer) {
	if a.original != nil {
		o.replay(a)
		return
	}
	op := a.op
	n := o.byKind[op.kind]
	n[map[bool]int{true: 0, false: 1}[a.acked()]]++
	o.byKind[op.kind] = n
	switch {
	case a.acked():
		if !op.ok {
			o.fail("%s %s acknowledged (%d) where only a refusal %v fits: %s", op.kind, op.id, a.status, op.codes, oneLine(a.body))
			return
		}
		if a.replayed && !a.unseen {
			o.fail("%s %s: its first and only attempt is answered as a replay", op.kind, op.id)
		}
		o.acked++
		o.checked++
		o.content(a, true)
	case contains(op.codes, a.code):
		o.refusals++
	case op.ok && a.unseen && (op.kind == "cancel" && a.code == "already_cancelled" || op.kind == "reversal" && a.code == "already_reversed"):
		// The attempt whose answer was lost did it: the books must say so.
		o.acked++
		o.checked++
		o.unheard++
		o.content(a, false)
	default:
		o.fail("%s %s refused %d %q; expected %s", op.kind, op.id, a.status, a.code, expectation(op))
	}
	o.presence(a)
}

func expectation(op *op) string {
	switch {
	case op.ok && len(op.codes) > 0:
		return fmt.Sprintf("success or %v", op.codes)
	case op.ok:
		return "success"
	}
	return fmt.Sprintf("%v", op.codes)
}

func (o *oracle) content(a *answer, heard bool) {
	switch a.op.kind {
	case "shipment":
		o.shipment(a)
	case "refund":
		o.refund(a)
	case "feedback":
		o.feedback(a)
	case "deposit", "charge", "withdrawal":
		o.movement(a)
	case "redemption":
		o.redemption(a)
	case "cancel":
		o.cancel(a, heard)
	case "reversal":
		o.reversal(a, heard)
	case "expiry":
		o.expiry(a)
	}
}

// eventResult is an event's answer as the oracle reads it.
type eventResult struct {
	EventID     string    `json:"event_id"`
	Type        string    `json:"type"`
	CustomerID  string    `json:"customer_id"`
	ShipmentID  string    `json:"shipment_id"`
	OccurredAt  time.Time `json:"occurred_at"`
	EntryID     *int64    `json:"entry_id"`
	RuleVersion int       `json:"rule_version"`
	Tier        *struct {
		Segment string `json:"segment"`
		Level   int    `json:"level"`
	} `json:"tier"`
	Contribution *struct {
		Month  string          `json:"month"`
		Before decimal.Decimal `json:"before"`
		After  decimal.Decimal `json:"after"`
	} `json:"contribution"`
	Earning *struct {
		Base               decimal.Decimal `json:"base"`
		Multiplier         decimal.Decimal `json:"multiplier"`
		Campaign           *string         `json:"campaign"`
		CampaignMultiplier decimal.Decimal `json:"campaign_multiplier"`
		Volume             int64           `json:"volume,string"`
		CampaignPoints     int64           `json:"campaign_points,string"`
		Points             int64           `json:"points,string"`
	} `json:"earning"`
	Referral json.RawMessage `json:"referral"`
	Refund   *struct {
		Refunded        decimal.Decimal `json:"refunded"`
		TotalRefunded   decimal.Decimal `json:"total_refunded"`
		PointsDue       int64           `json:"points_due,string"`
		PointsTakenBack int64           `json:"points_taken_back,string"`
		PointsOwed      int64           `json:"points_owed,string"`
	} `json:"refund"`
	Feedback *struct {
		Rating int   `json:"rating"`
		Points int64 `json:"points,string"`
	} `json:"feedback"`
	Points int64 `json:"points,string"`
}

// event reads an event's answer and checks what every event answers: its
// own fields, the rule version, and that it is the result the books keep.
func (o *oracle) event(a *answer, typ string) (eventResult, eventRow, bool) {
	op := a.op
	var res eventResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		o.fail("event %s: %v: %s", op.id, err, oneLine(a.body))
		return res, eventRow{}, false
	}
	if res.EventID != op.id || res.Type != typ || res.CustomerID != op.customer || res.ShipmentID != op.ship.id ||
		!res.OccurredAt.Equal(op.at) || res.RuleVersion != 1 {
		o.fail("event %s answers event %s %s of %s for %s at %s, rule version %d; sent %s %s of %s for %s at %s, version 1",
			op.id, res.EventID, res.Type, res.CustomerID, res.ShipmentID, res.OccurredAt, res.RuleVersion,
			op.id, typ, op.customer, op.ship.id, op.at)
	}
	if res.Referral != nil {
		o.fail("event %s answers a referral; no customer of the run has a referrer", op.id)
	}
	row, ok := o.b.events[op.id]
	if !ok {
		o.fail("acknowledged event %s is not in the books", op.id)
		return res, row, false
	}
	if row.customer != op.customer || row.typ != typ {
		o.fail("event %s is in the books as %s of %s", op.id, row.typ, row.customer)
	}
	if string(eventBytes(a)) != row.result {
		o.fail("event %s: the answer is not the result the books keep: %s", op.id, firstDiff(eventBytes(a), []byte(row.result)))
	}
	if !sameID(res.EntryID, row.entry) {
		o.fail("event %s answers entry %v, the books %v", op.id, ptr(res.EntryID), ptr(row.entry))
	}
	return res, row, true
}

func (o *oracle) shipment(a *answer) {
	op := a.op
	res, _, ok := o.event(a, "shipment.completed")
	if !ok {
		return
	}
	c, t, e := res.Contribution, res.Tier, res.Earning
	if c == nil || t == nil || e == nil {
		o.fail("shipment %s answers no contribution, tier or earning: %s", op.id, oneLine(a.body))
		return
	}
	rules := o.sc.rules
	month := string(rules.MonthOf(op.at))
	if c.Month != month || !c.After.Sub(c.Before).Equal(op.amount) {
		o.fail("shipment %s of %s at %s: contribution of %s from %s to %s", op.id, op.amount, op.at, c.Month, c.Before, c.After)
	}
	// Every customer of the run contributes in one month only: the tier in
	// effect is the tier of the month so far.
	tier := rules.TierOf(c.Before)
	if t.Segment != tier.Segment || t.Level != tier.Level {
		o.fail("shipment %s: contribution %s before it is %s L%d; answered %s L%d", op.id, c.Before, tier.Segment, tier.Level, t.Segment, t.Level)
	}
	want := rules.Earn(op.amount, tier.Segment, op.at, o.sc.campaigns)
	var campaign *string
	if want.Campaign != "" {
		campaign = &want.Campaign
	}
	if !e.Base.Equal(op.amount) || !e.Multiplier.Equal(want.Multiplier) || ptr(e.Campaign) != ptr(campaign) ||
		!e.CampaignMultiplier.Equal(want.CampaignMultiplier) || e.Volume != want.Volume || e.Points != want.Points ||
		e.CampaignPoints != want.CampaignPoints || res.Points != want.Points {
		o.fail("shipment %s of %s at %s L%d: want base %s x %s, campaign %s x %s: volume %d + %d = %d points; answered %s",
			op.id, op.amount, tier.Segment, tier.Level, op.amount, want.Multiplier, ptr(campaign), want.CampaignMultiplier,
			want.Volume, want.CampaignPoints, want.Points, oneLine(a.body))
	}
	if res.EntryID != nil {
		o.moves("shipment "+op.id, *res.EntryID, "shipment.completed", op.at, map[string]int64{
			"customer:" + op.customer + ":points": want.Points,
			"platform:points:earned:volume":       -want.Volume,
			"platform:points:earned:campaign":     -want.CampaignPoints,
		})
	} else {
		o.fail("shipment %s earned %d points and answers no entry", op.id, want.Points)
	}
	row, ok := o.b.shipments[op.ship.id]
	switch {
	case !ok:
		o.fail("shipment %s of event %s is not in the books", op.ship.id, op.id)
	case row.customer != op.customer || !row.amount.Equal(op.amount) || row.volume != want.Volume || row.campaign != want.CampaignPoints ||
		!sameID(row.entry, res.EntryID) || row.month != month || !row.occurred.Equal(op.at):
		o.fail("shipment %s is in the books as %s of %s, %d+%d points, month %s, entry %v", op.ship.id, row.amount, row.customer,
			row.volume, row.campaign, row.month, ptr(row.entry))
	}
	o.changes[op.customer+"|"+c.Month] = append(o.changes[op.customer+"|"+c.Month], change{c.Before, c.After})
	o.ships[op.ship.id] = &shipModel{customer: op.customer, month: month, amount: op.amount, points: want.Points}
	o.points[op.customer] += want.Points
}

func (o *oracle) refund(a *answer) {
	op := a.op
	res, _, ok := o.event(a, "shipment.refunded")
	if !ok {
		return
	}
	sm := o.ships[op.ship.id]
	if sm == nil {
		o.fail("refund %s of shipment %s acknowledged, but the shipment never was", op.id, op.ship.id)
		return
	}
	r, c := res.Refund, res.Contribution
	if r == nil || c == nil || res.Tier != nil || res.Earning != nil {
		o.fail("refund %s answers %s", op.id, oneLine(a.body))
		return
	}
	total := sm.refunded.Add(op.amount)
	want := pricemodel.TakeBack(sm.points, sm.amount, total, sm.asked)
	rating := int64(0) // a refund in full takes back the rating's points too
	if sm.rated && total.Equal(sm.amount) {
		rating = o.sc.rules.FeedbackPoints
	}
	shipmentWant := want
	want += rating
	if !r.Refunded.Equal(op.amount) || !r.TotalRefunded.Equal(total) || r.PointsTakenBack < 0 || r.PointsOwed < 0 ||
		r.PointsDue != want || r.PointsTakenBack+r.PointsOwed != want || res.Points != -r.PointsTakenBack {
		o.fail("refund %s of %s on shipment %s (%d points on %s, %s refunded before, %d asked back before): want %s refunded in all, %d points asked back; answered %s",
			op.id, op.amount, op.ship.id, sm.points, sm.amount, sm.refunded, sm.asked, total, want, oneLine(a.body))
	}
	if c.Month != sm.month || !c.Before.Sub(c.After).Equal(op.amount) {
		o.fail("refund %s of %s: contribution of %s from %s to %s; the shipment is of %s", op.id, op.amount, c.Month, c.Before, c.After, sm.month)
	}
	taken, owed := r.PointsTakenBack, r.PointsOwed
	account := "customer:" + op.customer + ":points"
	owedAccount := "customer:" + op.customer + ":points_owed"
	switch {
	case want > 0 && res.EntryID == nil:
		o.fail("refund %s was due %d points and answers no entry", op.id, want)
	case want > 0:
		e := o.b.entries[*res.EntryID]
		if e == nil || e.kind != "shipment.refunded" || !e.effective.Equal(op.at) {
			o.fail("refund %s: entry %d is not its shipment.refunded entry", op.id, *res.EntryID)
			break
		}
		got, platform := e.amounts(), decimal.Zero
		for acct, v := range got {
			switch acct {
			case account:
				if !v.Equal(decimal.NewFromInt(-taken)) {
					o.fail("refund %s: entry %d takes %s from %s, answered %d", op.id, e.id, v.Neg(), acct, taken)
				}
			case owedAccount:
				if !v.Equal(decimal.NewFromInt(-owed)) {
					o.fail("refund %s: entry %d debits %s to %s, answered %d owed", op.id, e.id, v.Neg(), acct, owed)
				}
			case "platform:points:earned:volume", "platform:points:earned:campaign":
				platform = platform.Add(v)
			case "platform:points:earned:feedback":
				if !v.Equal(decimal.NewFromInt(rating)) {
					o.fail("refund %s: entry %d gives %s back to the feedback channel, the rating's %d", op.id, e.id, v, rating)
				}
			default:
				o.fail("refund %s: entry %d moves %s %s", op.id, e.id, acct, v)
			}
		}
		if !platform.Equal(decimal.NewFromInt(shipmentWant)) {
			o.fail("refund %s: entry %d gives %s back to the volume and campaign channels, due %d", op.id, e.id, platform, shipmentWant)
		}
		if (taken > 0) != got[account].IsNegative() || (owed > 0) != got[owedAccount].IsNegative() {
			o.fail("refund %s: entry %d moves %v, answered %d taken and %d owed", op.id, e.id, got, taken, owed)
		}
		// Owed: the customer held nothing more after it, or nothing more
		// from its date on (a refund dated back takes no points that came
		// later).
		if owed > 0 && !o.b.after(account, e.id).IsZero() && !o.b.leastDatedSince(account, e.id).IsZero() {
			o.fail("refund %s left %d points owed, but %s still held %s after it, and at least %s from its date on",
				op.id, owed, account, o.b.after(account, e.id), o.b.leastDatedSince(account, e.id))
		}
		if owed > 0 {
			o.refunds[fmt.Sprintf("%d:%s", e.id, op.customer)] = owed
		}
	case res.EntryID != nil:
		o.fail("refund %s was due nothing and answers entry %d", op.id, *res.EntryID)
	}
	o.changes[op.customer+"|"+c.Month] = append(o.changes[op.customer+"|"+c.Month], change{c.Before, c.After})
	sm.refunded = total
	sm.asked += shipmentWant
	sm.taken += taken
	sm.owed += owed
	o.points[op.customer] -= taken
	o.owed[op.customer] += owed
}

func (o *oracle) feedback(a *answer) {
	op := a.op
	res, _, ok := o.event(a, "feedback.submitted")
	if !ok {
		return
	}
	sm := o.ships[op.ship.id]
	if sm == nil {
		o.fail("rating %s of shipment %s acknowledged, but the shipment never was", op.id, op.ship.id)
		return
	}
	feedbackPoints := o.sc.rules.FeedbackPoints
	if res.Feedback == nil || res.Feedback.Rating != op.rating || res.Feedback.Points != feedbackPoints ||
		res.Points != feedbackPoints || res.Contribution != nil || res.Earning != nil || res.EntryID == nil {
		o.fail("rating %s (%d) answers %s", op.id, op.rating, oneLine(a.body))
		return
	}
	o.moves("rating "+op.id, *res.EntryID, "feedback.submitted", op.at, map[string]int64{
		"customer:" + op.customer + ":points": feedbackPoints,
		"platform:points:earned:feedback":     -feedbackPoints,
	})
	sm.rated = true
	o.points[op.customer] += feedbackPoints
}

// moneyResult is a deposit's, charge's or withdrawal's answer.
type moneyResult struct {
	Kind            string           `json:"kind"`
	ID              string           `json:"id"`
	CustomerID      string           `json:"customer_id"`
	Amount          decimal.Decimal  `json:"amount"`
	ShipmentID      *string          `json:"shipment_id"`
	RuleVersion     int              `json:"rule_version"`
	Rate            *decimal.Decimal `json:"rate"`
	Rebate          *decimal.Decimal `json:"rebate"`
	FromPrincipal   *decimal.Decimal `json:"from_principal"`
	FromRebate      *decimal.Decimal `json:"from_rebate"`
	Clawback        *decimal.Decimal `json:"clawback"`
	EntryID         int64            `json:"entry_id"`
	ReversalEntryID *int64           `json:"reversal_entry_id"`
	Principal       decimal.Decimal  `json:"principal"`
	RebateBalance   decimal.Decimal  `json:"rebate_balance"`
}

// moneyOf reads a movement's answer and its row in the books.
func (o *oracle) moneyOf(a *answer, kind, id string) (moneyResult, moneyRow, bool) {
	var res moneyResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		o.fail("%s %s: %v: %s", kind, id, err, oneLine(a.body))
		return res, moneyRow{}, false
	}
	row, ok := o.b.money[kind+":"+id]
	if !ok || row.entry == nil {
		o.fail("acknowledged %s %s is not in the books", kind, id)
		return res, row, false
	}
	if res.Kind != kind || res.ID != id || res.CustomerID != row.customer || !res.Amount.Equal(row.amount) ||
		res.RuleVersion != 1 || res.EntryID != *row.entry {
		o.fail("%s %s answers %s %s of %s, %s, rule version %d, entry %d; the books: %s of %s, entry %d", kind, id, res.Kind, res.ID,
			res.CustomerID, res.Amount, res.RuleVersion, res.EntryID, row.amount, row.customer, *row.entry)
	}
	return res, row, true
}

func (o *oracle) movement(a *answer) {
	op := a.op
	res, row, ok := o.moneyOf(a, op.kind, op.id)
	if !ok {
		return
	}
	if row.customer != op.customer || !row.amount.Equal(op.amount) {
		o.fail("%s %s of %s for %s is in the books as %s for %s", op.kind, op.id, op.amount, op.customer, row.amount, row.customer)
	}
	if res.ReversalEntryID != nil {
		o.fail("%s %s answers reversal entry %d before any reversal was asked", op.kind, op.id, *res.ReversalEntryID)
	}
	id := *row.entry
	prepaid, reb := "customer:"+op.customer+":prepaid", "customer:"+op.customer+":rebate"
	amount := op.amount
	pb, rb := o.b.before(prepaid, id), o.b.before(reb, id)
	var moves map[string]decimal.Decimal
	switch op.kind {
	case "deposit":
		rate, r := o.sc.rules.Rebate(amount)
		if !eqDec(res.Rate, rate) || !eqDec(res.Rebate, r) || !eqDec(row.rate, rate) || !eqDec(row.rebate, r) {
			o.fail("deposit %s of %s: want rate %s and rebate %s; answered %s, %s; the books %s, %s", op.id, amount, rate,
				r, dec(res.Rate), dec(res.Rebate), dec(row.rate), dec(row.rebate))
		}
		moves = map[string]decimal.Decimal{"platform:cash": amount.Neg(), prepaid: amount, "platform:rebate:expense": r.Neg(), reb: r}
		o.principal[op.customer] = o.principal[op.customer].Add(amount)
		o.rebate[op.customer] = o.rebate[op.customer].Add(r)
	case "charge":
		fp, fr, ok := pricemodel.Charge(pb, rb, amount)
		if !ok {
			o.fail("charge %s of %s accepted with principal %s and rebate %s", op.id, amount, pb, rb)
			return
		}
		if !eqDec(res.FromPrincipal, fp) || !eqDec(res.FromRebate, fr) || !eqDec(row.fromPrincipal, fp) || !eqDec(row.fromRebate, fr) ||
			res.ShipmentID == nil || *res.ShipmentID != "SC"+op.id {
			o.fail("charge %s of %s on principal %s: want %s from principal and %s from rebate; answered %s", op.id, amount,
				pb, fp, fr, oneLine(a.body))
		}
		moves = map[string]decimal.Decimal{"platform:revenue:shipping": amount, prepaid: fp.Neg(), reb: fr.Neg()}
		o.principal[op.customer] = o.principal[op.customer].Sub(fp)
		o.rebate[op.customer] = o.rebate[op.customer].Sub(fr)
	case "withdrawal":
		if amount.GreaterThan(pb) {
			o.fail("withdrawal %s of %s accepted with principal %s", op.id, amount, pb)
		}
		claw := pricemodel.Clawback(rb, pb, amount)
		if !eqDec(res.Clawback, claw) || !eqDec(row.claw, claw) {
			o.fail("withdrawal %s of %s on principal %s and rebate %s: want clawback %s; answered %s, the books %s", op.id, amount,
				pb, rb, claw, dec(res.Clawback), dec(row.claw))
		}
		moves = map[string]decimal.Decimal{prepaid: amount.Neg(), "platform:cash": amount, reb: claw.Neg(), "platform:rebate:expense": claw}
		o.principal[op.customer] = o.principal[op.customer].Sub(amount)
		o.rebate[op.customer] = o.rebate[op.customer].Sub(claw)
	}
	o.movesCNY(op.kind+" "+op.id, id, op.kind, moves)
	o.balancesAfter(a, res, id)
}

// balancesAfter: the balances a movement answers are those right after its
// entry; a retry that may repeat an unheard attempt answers them as they are
// now, which the account held at some moment since.
func (o *oracle) balancesAfter(a *answer, res moneyResult, id int64) {
	prepaid, reb := "customer:"+a.op.customer+":prepaid", "customer:"+a.op.customer+":rebate"
	if a.unseen {
		if !o.b.heldSince(prepaid, id, res.Principal) || !o.b.heldSince(reb, id, res.RebateBalance) {
			o.fail("%s %s answers principal %s and rebate %s, balances the customer never had since entry %d", a.op.kind, a.op.id,
				res.Principal, res.RebateBalance, id)
		}
		return
	}
	if p, r := o.b.after(prepaid, id), o.b.after(reb, id); !res.Principal.Equal(p) || !res.RebateBalance.Equal(r) {
		o.fail("%s %s answers principal %s and rebate %s; right after entry %d the books hold %s and %s", a.op.kind, a.op.id,
			res.Principal, res.RebateBalance, id, p, r)
	}
}

// redemptionResult is a redemption's answer.
type redemptionResult struct {
	RedemptionID  string     `json:"redemption_id"`
	CustomerID    string     `json:"customer_id"`
	SKU           string     `json:"sku"`
	Quantity      int        `json:"quantity"`
	Points        int64      `json:"points,string"`
	Status        string     `json:"status"`
	EntryID       int64      `json:"entry_id"`
	CancelledAt   *time.Time `json:"cancelled_at"`
	CancelEntryID *int64     `json:"cancel_entry_id"`
}

func (o *oracle) redemption(a *answer) {
	op := a.op
	var res redemptionResult
	if err := json.Unmarshal(a.body, &res); err != nil {
		o.fail("redemption %s: %v: %s", op.id, err, oneLine(a.body))
		return
	}
	points := int64(giftPrice * op.quantity)
	row, ok := o.b.redemptions[op.id]
	if !ok || row.entry == nil {
		o.fail("acknowledged redemption %s is not in the books", op.id)
		return
	}
	if res.RedemptionID != op.id || res.CustomerID != op.customer || res.SKU != "gift" || res.Quantity != op.quantity ||
		res.Points != points || res.Status != "redeemed" || res.EntryID != *row.entry || res.CancelledAt != nil || res.CancelEntryID != nil {
		o.fail("redemption %s of %d gifts for %s: want %d points, redeemed, entry %d; answered %s", op.id, op.quantity, op.customer,
			points, *row.entry, oneLine(a.body))
	}
	if row.customer != op.customer || row.sku != "gift" || row.quantity != op.quantity || row.points != points {
		o.fail("redemption %s is in the books as %d %s for %s, %d points", op.id, row.quantity, row.sku, row.customer, row.points)
	}
	o.moves("redemption "+op.id, *row.entry, "redemption", time.Time{}, map[string]int64{
		"customer:" + op.customer + ":points": -points,
		"platform:points:redeemed":            points,
	})
	o.points[op.customer] -= points
}

// cancel: heard is false for an "already cancelled" after an unheard attempt.
func (o *oracle) cancel(a *answer, heard bool) {
	op := a.op
	row, ok := o.b.redemptions[op.id]
	if !ok || row.entry == nil || row.cancelled == nil || row.cancelledAt == nil {
		o.fail("cancellation of redemption %s acknowledged (%d %s); the books do not have it cancelled", op.id, a.status, a.code)
		return
	}
	if heard {
		var res redemptionResult
		if err := json.Unmarshal(a.body, &res); err != nil {
			o.fail("cancellation of %s: %v: %s", op.id, err, oneLine(a.body))
			return
		}
		if a.status != 200 || res.RedemptionID != op.id || res.Status != "cancelled" || res.Points != row.points ||
			res.EntryID != *row.entry || !sameID(res.CancelEntryID, row.cancelled) || res.CancelledAt == nil || !res.CancelledAt.Equal(*row.cancelledAt) {
			o.fail("cancellation of %s: want 200, cancelled by entry %d; answered %d %s", op.id, *row.cancelled, a.status, oneLine(a.body))
		}
	}
	o.undone("cancellation of "+op.id, *row.cancelled, *row.entry, "redemption.cancelled")
	o.points[op.customer] += row.points
	o.cancels[op.id]++
}

func (o *oracle) reversal(a *answer, heard bool) {
	op := a.op
	kind := op.mov.kind
	row, ok := o.b.money[kind+":"+op.id]
	if !ok || row.entry == nil || row.reversal == nil {
		o.fail("reversal of %s %s acknowledged (%d %s); the books do not have it reversed", kind, op.id, a.status, a.code)
		return
	}
	rev := *row.reversal
	if heard {
		if a.status != 201 {
			o.fail("reversal of %s %s answers %d, not 201", kind, op.id, a.status)
		}
		res, _, ok := o.moneyOf(a, kind, op.id)
		if !ok {
			return
		}
		if !sameID(res.ReversalEntryID, row.reversal) {
			o.fail("reversal of %s %s answers reversal entry %v; the books %d", kind, op.id, ptr(res.ReversalEntryID), rev)
		}
		o.balancesAfter(a, res, rev)
	}
	if e := o.undone("reversal of "+kind+" "+op.id, rev, *row.entry, "reversal"); e != nil && str(e.meta["reversed_kind"]) != kind {
		o.fail("reversal of %s %s: entry %d has metadata %v", kind, op.id, rev, e.meta)
	}
	p, r := o.principal[op.customer], o.rebate[op.customer]
	switch kind {
	case "deposit":
		o.principal[op.customer], o.rebate[op.customer] = p.Sub(row.amount), r.Sub(*row.rebate)
	case "charge":
		o.principal[op.customer], o.rebate[op.customer] = p.Add(*row.fromPrincipal), r.Add(*row.fromRebate)
	case "withdrawal":
		o.principal[op.customer], o.rebate[op.customer] = p.Add(row.amount), r.Add(*row.claw)
	}
	o.reverses[kind+":"+op.id]++
}

// undone checks that entry id, of kind, reverses entry of: the opposite of
// each of its postings, nothing else.
func (o *oracle) undone(what string, id, of int64, kind string) *entry {
	e, orig := o.b.entries[id], o.b.entries[of]
	if e == nil || orig == nil || e.kind != kind || e.reversalOf == nil || *e.reversalOf != of {
		o.fail("%s: entry %d is not a %s of entry %d", what, id, kind, of)
		return nil
	}
	want, got := orig.amounts(), e.amounts()
	for acct, v := range want {
		if !got[acct].Equal(v.Neg()) {
			o.fail("%s: entry %d moves %s %s, entry %d moved %s", what, id, acct, got[acct], of, v)
		}
	}
	if len(got) != len(want) {
		o.fail("%s: entry %d moves %d accounts, entry %d moved %d", what, id, len(got), of, len(want))
	}
	return e
}

func (o *oracle) expiry(a *answer) {
	op := a.op
	var res struct {
		AsOf      time.Time `json:"as_of"`
		Customers int       `json:"customers"`
		Points    int64     `json:"points,string"`
	}
	if err := json.Unmarshal(a.body, &res); err != nil || a.status != 200 || !res.AsOf.Equal(op.asOf) {
		o.fail("expiry as of %s: %d %s (%v)", op.asOf, a.status, oneLine(a.body), err)
		return
	}
	key := op.asOf.Format(time.RFC3339Nano)
	o.expired[key] = expiryRun{points: res.Points, customers: res.Customers, unseen: a.unseen}
}

// moves checks that entry id is of kind (effective at at, unless zero) and
// moves exactly want (points) by account, zero amounts left out.
func (o *oracle) moves(what string, id int64, kind string, at time.Time, want map[string]int64) *entry {
	e := o.b.entries[id]
	if e == nil || e.kind != kind || (!at.IsZero() && !e.effective.Equal(at)) {
		o.fail("%s: entry %d is not its %s entry at %s", what, id, kind, at)
		return nil
	}
	amounts := make(map[string]decimal.Decimal, len(want))
	for acct, v := range want {
		amounts[acct] = decimal.NewFromInt(v)
	}
	o.sameMoves(what, e, amounts)
	return e
}

// movesCNY is moves for CNY amounts, of an entry of any effective time.
func (o *oracle) movesCNY(what string, id int64, kind string, want map[string]decimal.Decimal) {
	e := o.b.entries[id]
	if e == nil || e.kind != kind {
		o.fail("%s: entry %d is not its %s entry", what, id, kind)
		return
	}
	o.sameMoves(what, e, want)
}

func (o *oracle) sameMoves(what string, e *entry, want map[string]decimal.Decimal) {
	got, nonZero := e.amounts(), map[string]string{}
	for acct, v := range want {
		if v.IsZero() {
			continue
		}
		nonZero[acct] = v.String()
		if !got[acct].Equal(v) {
			o.fail("%s: entry %d moves %s %s, want %s", what, e.id, acct, got[acct], v)
		}
	}
	if len(got) != len(nonZero) {
		o.fail("%s: entry %d moves %v, want only %v", what, e.id, got, nonZero)
	}
}

// nowFields are those a movement's or redemption's replay answers as they
// are now, not as first answered.
var nowFields = map[string]bool{"principal": true, "rebate_balance": true, "reversal_entry_id": true,
	"status": true, "cancelled_at": true, "cancel_entry_id": true}

// replay judges a deliberate replay, or an event sent again in a batch
// retried for its neighbours: an event's must be byte-equal to the first
// answer; a movement's or redemption's equal but for what they answer as it
// is now, which must be what the books hold.
func (o *oracle) replay(a *answer) {
	op, orig := a.op, a.original
	if !orig.acked() {
		if a.status != orig.status || a.code != orig.code {
			o.fail("%s %s refused %d %q, then %d %q", op.kind, op.id, orig.status, orig.code, a.status, a.code)
		}
		return
	}
	o.replays++
	if a.status != orig.status || !a.replayed {
		o.fail("replay of %s %s: %d (replayed %t) %s, first %d", op.kind, op.id, a.status, a.replayed, oneLine(a.body), orig.status)
		return
	}
	switch op.kind {
	case "shipment", "refund", "feedback":
		if !bytes.Equal(eventBytes(a), eventBytes(orig)) {
			o.fail("replay of event %s differs from the first answer: %s", op.id, firstDiff(eventBytes(a), eventBytes(orig)))
			return
		}
		o.byteEqual++
		return
	}
	var now, first map[string]json.RawMessage
	if json.Unmarshal(a.body, &now) != nil || json.Unmarshal(orig.body, &first) != nil || len(now) != len(first) {
		o.fail("replay of %s %s: %s, first %s", op.kind, op.id, oneLine(a.body), oneLine(orig.body))
		return
	}
	for k, v := range first {
		if !nowFields[k] && !bytes.Equal(now[k], v) {
			o.fail("replay of %s %s: %s is %s, first %s", op.kind, op.id, k, now[k], v)
		}
	}
	if bytes.Equal(bytes.TrimSpace(a.body), bytes.TrimSpace(orig.body)) {
		o.byteEqual++
	}
	switch op.kind {
	case "redemption":
		var res redemptionResult
		json.Unmarshal(a.body, &res)
		row := o.b.redemptions[op.id]
		if res.Status != "redeemed" && (res.Status != "cancelled" || row.cancelled == nil || !sameID(res.CancelEntryID, row.cancelled)) {
			o.fail("replay of redemption %s answers %s by entry %v; the books: cancelled by %v", op.id, res.Status,
				ptr(res.CancelEntryID), ptr(row.cancelled))
		}
	default:
		var res moneyResult
		json.Unmarshal(a.body, &res)
		row := o.b.money[op.kind+":"+op.id]
		if res.ReversalEntryID != nil && !sameID(res.ReversalEntryID, row.reversal) {
			o.fail("replay of %s %s answers reversal entry %d; the books %v", op.kind, op.id, *res.ReversalEntryID, ptr(row.reversal))
		}
		if row.entry != nil {
			replayed := *a
			replayed.unseen = true
			o.balancesAfter(&replayed, res, *row.entry)
		}
	}
}

// presence counts the operation in the books: acknowledged once, refused
// never.
func (o *oracle) presence(a *answer) {
	op := a.op
	n := 0
	switch op.kind {
	case "shipment", "refund", "feedback":
		entries := len(o.b.entriesOf["event:"+op.id])
		row, ok := o.b.events[op.id]
		if ok {
			n = 1
			if want := map[bool]int{true: 1, false: 0}[row.entry != nil]; entries != want {
				o.fail("event %s has %d entries, its row names %v", op.id, entries, ptr(row.entry))
			}
		}
		n = max(n, entries)
	case "deposit", "charge", "withdrawal", "redemption":
		entries := len(o.b.entriesOf[op.kind+":"+op.id])
		if op.kind == "redemption" {
			if row, ok := o.b.redemptions[op.id]; ok && row.entry != nil {
				n = 1
			}
		} else if row, ok := o.b.money[op.kind+":"+op.id]; ok && row.entry != nil {
			n = 1
		}
		if n != entries {
			o.fail("%s %s: %d rows but %d entries", op.kind, op.id, n, entries)
		}
		n = max(n, entries)
	default:
		return // cancellations and reversals: per target, in tally
	}
	o.count(op.kind+" "+op.id, a.acked(), n)
}

func (o *oracle) count(what string, acked bool, n int) {
	switch {
	case acked && n == 0:
		o.lost++
		o.fail("acknowledged %s is missing", what)
	case n > 1:
		o.duplicated++
		o.fail("%s is in the books %d times", what, n)
	case !acked && n != 0:
		o.wrongly++
		o.fail("refused %s was written", what)
	}
}

// tally runs the checks over the whole run, after every answer is judged:
// cancellations and reversals once each, contributions that chain, the
// shipments' totals, the expiry runs, and the balances.
func (o *oracle) tally(workers []*worker) {
	for _, w := range workers {
		for _, red := range w.redemptions {
			row := o.b.redemptions[red.id]
			n := 0
			if row.entry != nil {
				for _, id := range o.b.reversals[*row.entry] {
					if o.b.entries[id].kind == "redemption.cancelled" {
						n++
					}
				}
			}
			o.count("cancellation of redemption "+red.id, o.cancels[red.id] > 0, n)
			if o.cancels[red.id] > 1 {
				o.fail("redemption %s cancelled %d times", red.id, o.cancels[red.id])
			}
		}
		for _, m := range w.movements {
			row := o.b.money[m.kind+":"+m.id]
			n := 0
			if row.entry != nil {
				n = len(o.b.reversals[*row.entry])
			}
			o.count("reversal of "+m.kind+" "+m.id, o.reverses[m.kind+":"+m.id] > 0, n)
			if o.reverses[m.kind+":"+m.id] > 1 {
				o.fail("%s %s reversed %d times", m.kind, m.id, o.reverses[m.kind+":"+m.id])
			}
		}
	}
	for id, sm := range o.ships {
		row := o.b.shipments[id]
		if !row.refunded.Equal(sm.refunded) || row.reversed != sm.taken || row.owed != sm.owed || row.dropped != 0 || row.rated != sm.rated {
			o.fail("shipment %s: the books have %s refunded, %d points taken back, %d owed and %d dropped, rated %t; the answers %s, %d, %d, 0, %t",
				id, row.refunded, row.reversed, row.owed, row.dropped, row.rated, sm.refunded, sm.taken, sm.owed, sm.rated)
		}
	}
	o.settlements()
	o.contributions()
	o.expiries()
	if len(o.b.badBalance) > 0 {
		o.fail("%d postings' balance_after differ from their account's running sum, first on %s", len(o.b.badBalance), o.b.badBalance[0])
	}
}

// settlements: every settlement entry moves points from one customer's
// points to their points_owed, exactly what its metadata says it settles,
// of refunds of theirs that answered points owed; no refund is settled
// beyond what it answered owed. What they settle leaves the customer's
// points and what they owe (the models of both).
func (o *oracle) settlements() {
	settled := map[string]int64{} // refund entry:customer: settled so far
	for _, id := range o.b.settlements {
		e := o.b.entries[id]
		var customer string
		var points int64
		got := e.amounts()
		for acct, v := range got {
			if c, ok := strings.CutSuffix(strings.TrimPrefix(acct, "customer:"), ":points"); ok && v.IsNegative() {
				customer, points = c, -v.IntPart()
			}
		}
		if customer == "" || len(got) != 2 || !got["customer:"+customer+":points_owed"].Equal(decimal.NewFromInt(points)) {
			o.fail("settlement entry %d moves %v", id, got)
			continue
		}
		var sum int64
		items, _ := e.meta["settles"].([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			refund, _ := m["refund_entry_id"].(float64)
			part, err := decimal.NewFromString(str(m["points"]))
			r := o.b.entries[int64(refund)]
			if err != nil || !part.IsPositive() || r == nil || r.kind != "shipment.refunded" ||
				!r.amounts()["customer:"+customer+":points_owed"].IsNegative() {
				o.fail("settlement entry %d settles %v: not a refund of %s", id, m, customer)
				continue
			}
			sum += part.IntPart()
			settled[fmt.Sprintf("%d:%s", int64(refund), customer)] += part.IntPart()
		}
		if sum != points || str(e.meta["customer_id"]) != customer {
			o.fail("settlement entry %d moves %d points of %s and says it settles %d of %v", id, points, customer, sum, e.meta["customer_id"])
		}
		o.points[customer] -= points
		o.owed[customer] -= points
	}
	for refund, n := range settled {
		if n > o.refunds[refund] {
			o.fail("refund entry:customer %s is settled %d points; it answered %d owed", refund, n, o.refunds[refund])
		}
	}
}

// contributions: for each customer and month, the answered changes chain
// from 0 to the month's contribution in the books: every before is 0 or
// another change's after, and every after another's before or the end
// (as multisets, since concurrent events answer in any order).
func (o *oracle) contributions() {
	for key, final := range o.b.months {
		if _, ok := o.changes[key]; !ok && !final.IsZero() {
			o.fail("contribution %s is %s in the books, with no event answered", key, final)
		}
	}
	for key, cs := range o.changes {
		count := map[string]int{}
		add := func(d decimal.Decimal, n int) { count[d.StringFixed(2)] += n }
		add(decimal.Zero, 1)
		add(o.b.months[key], -1)
		for _, c := range cs {
			add(c.after, 1)
			add(c.before, -1)
		}
		for v, n := range count {
			if n != 0 {
				o.fail("contribution %s: the %d answered changes do not chain from 0 to %s (%s left %+d times)", key, len(cs), o.b.months[key], v, n)
				break
			}
		}
	}
}

// expiries: every expiry entry takes from an X customer all its lots that
// expire by the run's as_of (and nothing from anyone else); each run
// answered the entries carrying its as_of, all of them unless an unheard
// attempt may have posted some.
func (o *oracle) expiries() {
	byAsOf := map[string]expiryRun{}
	for _, id := range o.b.expiries {
		e := o.b.entries[id]
		asOf, err := time.Parse(time.RFC3339Nano, str(e.meta["as_of"]))
		if err != nil {
			o.fail("expiry entry %d has metadata %v", id, e.meta)
			continue
		}
		var customer string
		var points int64
		for acct, v := range e.amounts() {
			switch {
			case strings.HasPrefix(acct, "customer:") && strings.HasSuffix(acct, ":points") && v.IsNegative():
				customer, points = strings.Split(acct, ":")[1], -v.IntPart()
			case acct != "platform:points:expired":
				o.fail("expiry entry %d moves %s %s", id, acct, v)
			}
		}
		if customer == "" || !isX(customer) || len(e.postings) != 2 {
			o.fail("expiry entry %d expires points of %q: only X customers hold lots that have expired", id, customer)
			continue
		}
		if held, want := o.b.after("customer:"+customer+":points", id), xHeldAfter(o.sc.boundary, asOf); held.IntPart() != want {
			o.fail("expiry entry %d as of %s left %s with %s points, want %d (its lots expiring later)", id, asOf, customer, held, want)
		}
		o.points[customer] -= points
		key := asOf.UTC().Format(time.RFC3339Nano)
		r := byAsOf[key]
		r.points += points
		r.customers++
		byAsOf[key] = r
	}
	for key, run := range o.expired {
		books := byAsOf[key]
		if run.unseen && run.points <= books.points && run.customers <= books.customers {
			continue
		}
		if run.points != books.points || run.customers != books.customers {
			o.fail("expiry as of %s answered %d points of %d customers; its entries expire %d of %d", key, run.points, run.customers,
				books.points, books.customers)
		}
	}
	for key := range byAsOf {
		if _, ok := o.expired[key]; !ok {
			o.fail("expiry entries as of %s, a run no one answered", key)
		}
	}
}

// balances compares, for every customer, the model built from the answers,
// the books, and what the API answers now.
func (o *oracle) balances(customer string, api customerBalances, now time.Time) {
	points := "customer:" + customer + ":points"
	prepaid, reb := "customer:"+customer+":prepaid", "customer:"+customer+":rebate"
	bp, br := o.b.final(prepaid), o.b.final(reb)
	ap, ar := api.Prepaid.Principal, api.Prepaid.Rebate
	if bpts := o.b.final(points).IntPart(); o.points[customer] != bpts || api.Points.Balance != bpts {
		o.fail("%s: points by the answers %d, in the books %d, by the API %d", customer, o.points[customer], bpts, api.Points.Balance)
	}
	if bowed := -o.b.final("customer:" + customer + ":points_owed").IntPart(); o.owed[customer] != bowed || api.Points.Owed != bowed || bowed < 0 {
		o.fail("%s: points owed by the answers %d, in the books %d, by the API %d", customer, o.owed[customer], bowed, api.Points.Owed)
	}
	// Every write that credits a customer settles what they owe, and no
	// lot of the run is pending: whoever still owes holds nothing (an E
	// customer's expired points are taken by the last expiry run).
	if api.Points.Owed > 0 && api.Points.Balance > 0 && !isE(customer) {
		o.fail("%s holds %d points and owes %d", customer, api.Points.Balance, api.Points.Owed)
	}
	if !o.principal[customer].Equal(bp) || !ap.Equal(bp) || !o.rebate[customer].Equal(br) || !ar.Equal(br) {
		o.fail("%s: principal and rebate by the answers %s and %s, in the books %s and %s, by the API %s and %s", customer,
			o.principal[customer], o.rebate[customer], bp, br, ap, ar)
	}
	if isX(customer) && api.Points.Balance != 0 {
		o.fail("%s holds %d points after the last expiry run", customer, api.Points.Balance)
	}
	// The tier in effect now: the higher of last month's and this month's.
	rules := o.sc.rules
	if this := rules.MonthOf(o.sc.t0); rules.MonthOf(now) == this {
		last := this.Prev()
		lastTotal, thisTotal := o.b.months[customer+"|"+string(last)], o.b.months[customer+"|"+string(this)]
		want := rules.TierInEffect(lastTotal, thisTotal)
		if api.Segment != want.Segment || api.Level != want.Level {
			o.fail("%s with %s in %s and %s in %s is %s L%d; the API says %s L%d", customer, lastTotal, last, thisTotal, this,
				want.Segment, want.Level, api.Segment, api.Level)
		}
	}
}

// customerBalances is GET /v1/customers/{id}/balances.
type customerBalances struct {
	Segment string `json:"segment"`
	Level   int    `json:"level"`
	Points  struct {
		Balance int64 `json:"balance,string"`
		Owed    int64 `json:"owed,string"`
	} `json:"points"`
	Prepaid struct {
		Principal decimal.Decimal `json:"principal"`
		Rebate    decimal.Decimal `json:"rebate"`
	} `json:"prepaid"`
}

// firstDiff shows where two answers part: the bytes around the first
// difference in each.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-40)
	return fmt.Sprintf("at byte %d, %q against %q", i, a[from:min(len(a), i+40)], b[from:min(len(b), i+40)])
}

// eventBytes is an event's result as answered: a POST of its own ends it
// with a newline, a batch holds it as it is.
func eventBytes(a *answer) []byte {
	if a.batch {
		return a.body
	}
	b, ok := bytes.CutSuffix(a.body, []byte("\n"))
	if !ok {
		return append([]byte("no newline: "), a.body...)
	}
	return b
}

func eqDec(got *decimal.Decimal, want decimal.Decimal) bool { return got != nil && got.Equal(want) }

func dec(d *decimal.Decimal) string {
	if d == nil {
		return "null"
	}
	return d.String()
}

func sameID(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func ptr[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}
