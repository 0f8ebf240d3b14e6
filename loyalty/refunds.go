package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Refunds and feedback, the events on a completed shipment. Each is
// recorded alone, in a savepoint of its group's transaction: it reads and
// changes the shipment's row (locked), and a refund takes points back from
// the customer's lots. (Completing a shipment is shipments.go's.)

// processFollowUp records a refund or a feedback event in tx, or answers
// the recorded result of an earlier one with the same id. A refusal is
// returned as the error, for the savepoint to undo what the event did.
func (s *Service) processFollowUp(ctx context.Context, tx *ledger.Tx, j job) (Outcome, error) {
	var b pgx.Batch
	stored := map[eventKey]storedEvent{}
	queueStoredEvent(&b, j, stored)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return Outcome{}, err
	}
	if se, ok := stored[eventKey{j.space, j.ev.EventID}]; ok {
		o := replayOf(j, se)
		return o, o.Err
	}
	if err := s.checkDating(ctx, tx, j.ev.OccurredAt); err != nil {
		return Outcome{}, err
	}
	p := processor{s: s, tx: tx, ev: j.ev, reach: j.reach, actor: j.actor}
	res, err := p.run(ctx)
	if err != nil {
		return Outcome{}, err
	}
	doc := encodeResult(res)
	var rows eventRows
	rows.add(j, doc, res.EntryID)
	b = pgx.Batch{}
	rows.queue(&b, tx.Now())
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return Outcome{}, err
	}
	return Outcome{Result: res, JSON: doc}, nil
}

// processor applies one refund or feedback event inside its transaction.
type processor struct {
	s     *Service
	tx    *ledger.Tx
	ev    Event
	reach string // the space whose shipments it may refund or rate (job.reach)
	actor string

	rs        rules.RuleSet
	postings  postingSet
	notBefore time.Time                    // the entry is effective no earlier than this (a rating it takes back)
	after     []func(entryID *int64) error // rows to write once the entry exists
}

// effective is the instant the event's entry takes effect at: when it
// occurred, or notBefore if that is later.
func (p *processor) effective() time.Time {
	if p.notBefore.After(p.ev.OccurredAt) {
		return p.notBefore
	}
	return p.ev.OccurredAt
}

func (p *processor) run(ctx context.Context) (Result, error) {
	ev := p.ev
	cust, err := customer(ctx, p.tx, ev.CustomerID, true)
	if err != nil {
		return Result{}, err
	}
	if p.rs, err = p.s.rulesAt(ctx, p.tx, ev.OccurredAt); err != nil {
		return Result{}, err
	}
	res := resultOf(ev, p.rs)
	switch ev.Type {
	case ShipmentRefunded:
		err = p.refund(ctx, cust, &res)
	case FeedbackSubmitted:
		err = p.feedback(ctx, &res)
	default:
		err = fault.Errorf(fault.Internal, "event type %s is not a refund or feedback", ev.Type)
	}
	if err != nil {
		return res, err
	}
	if postings := p.postings.nonZero(); len(postings) > 0 {
		version := p.rs.Version
		entry, err := p.tx.Post(ctx, ledger.EntryInput{Kind: ev.Type, EffectiveAt: p.effective(), Metadata: entryMetadata(ev, res),
			Actor: p.actor, Postings: postings, RuleVersion: &version})
		if err != nil {
			return res, err
		}
		res.EntryID = &entry.ID
	}
	for _, write := range p.after {
		if err := write(res.EntryID); err != nil {
			return res, err
		}
	}
	// Points that reach a customer who owes settle what they owe. So do the
	// points a refund dated back could not take because they came after its
	// date: they are held now, and a settlement takes effect now.
	if res.Points > 0 || (res.Refund != nil && res.Refund.PointsOwed > 0) {
		if _, err := SettleOwed(ctx, p.tx, ev.CustomerID, p.actor); err != nil {
			return res, err
		}
	}
	return res, nil
}

// shipment is a completed shipment's row, as a refund or a rating reads it.
type shipment struct {
	amount, refunded decimal.Decimal
	occurredAt       time.Time
	month            string
	volume, campaign int64
	reversed, owed   int64 // taken back by refunds, and owed by the customer
	dropped          int64 // let go by refunds before shortfalls were owed
	rated            bool
	ratedAt          time.Time // the rating's occurred_at, when rated
}

// lockShipment reads and locks the event's shipment, which must be the
// customer's and recorded in the sender's space (a partner refunds and
// rates only the shipments it recorded; an admin any), and which the event
// (a refund or a rating of it) may not precede. Another partner's shipment
// is answered as no shipment at all. (Shipment ids are still unique over
// all partners: a shipment.completed reusing another partner's id is
// duplicate_shipment, which tells the sender that the id is taken.)
func (p *processor) lockShipment(ctx context.Context) (shipment, error) {
	var sh shipment
	var space *string // nil: any space
	if p.reach != ledger.AnySpace {
		space = &p.reach
	}
	// The shipment is its event's row (the shipments view has no space).
	err := p.tx.QueryRow(ctx, `SELECT amount, refunded, occurred_at, month, points_volume, points_campaign, points_reversed,
    points_owed, points_dropped, rated_at IS NOT NULL, coalesce(rated_at, occurred_at)
FROM events WHERE shipment_id = $1 AND customer_id = $2 AND (space = $3 OR $3 IS NULL) FOR UPDATE`,
		p.ev.ShipmentID, p.ev.CustomerID, space).
		Scan(&sh.amount, &sh.refunded, &sh.occurredAt, &sh.month, &sh.volume, &sh.campaign, &sh.reversed, &sh.owed, &sh.dropped, &sh.rated, &sh.ratedAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return sh, &fault.Error{Code: fault.UnknownShipment,
			Message: "no completed shipment " + p.ev.ShipmentID + " for customer " + p.ev.CustomerID}
	case err == nil && p.ev.OccurredAt.Before(sh.occurredAt):
		return sh, &fault.Error{Code: fault.BeforeShipment, Message: "occurred_at " + p.ev.OccurredAt.Format(time.RFC3339) +
			" is before shipment " + p.ev.ShipmentID + " was completed (" + sh.occurredAt.Format(time.RFC3339) + ")"}
	}
	return sh, err
}

func (p *processor) refund(ctx context.Context, cust Customer, res *Result) error {
	ev := p.ev
	sh, err := p.lockShipment(ctx)
	if err != nil {
		return err
	}
	total := sh.refunded.Add(*ev.Amount)
	if total.GreaterThan(sh.amount) {
		return &fault.Error{Code: fault.RefundExceeds, Message: "refunds of " + total.StringFixed(2) +
			" would exceed shipment " + ev.ShipmentID + "'s " + sh.amount.StringFixed(2)}
	}
	earned := sh.volume + sh.campaign
	due := rules.TakeBack(earned, sh.amount, sh.refunded, *ev.Amount, sh.reversed+sh.owed+sh.dropped)
	// A refund in full takes back the rating's points too: a shipment
	// refunded in full earns no rating, whichever came first. They are
	// what the rules in effect at the rating gave.
	var rating int64
	if sh.rated && total.Equal(sh.amount) {
		rs, err := p.s.rulesAt(ctx, p.tx, sh.ratedAt)
		if err != nil {
			return err
		}
		rating = rs.FeedbackPoints
		if rating > 0 {
			p.notBefore = sh.ratedAt
		}
	}
	shipmentDue := due
	due += rating
	// A refund in full may cancel the referral bonus the shipment paid:
	// read it now, so that the referrer's points are locked with the
	// customer's.
	var bonus *paidBonus
	if total.Equal(sh.amount) {
		if bonus, err = p.paidBonus(ctx); err != nil {
			return err
		}
	}
	// Lock the points balance before reading what is available, so that no
	// debit outside loyalty's own flows (an expiry run, a manual entry) can
	// take it between the read and the draw; and the referrer's, when a
	// bonus is cancelled, in the same statement: in byte order, as every
	// writer locks balances, never one after the other (a writer holding
	// the referrer's and wanting the customer's would deadlock with this).
	// What the customer owed before is settled first, from points that
	// reached them since.
	codes := []string{ledger.CustomerAccount(cust.ID, "points")}
	if bonus != nil {
		codes = append(codes, ledger.CustomerAccount(bonus.referrer, "points"))
	}
	if _, err := p.tx.LockBalances(ctx, codes...); err != nil {
		return err
	}
	if _, err := SettleOwed(ctx, p.tx, cust.ID, p.actor); err != nil {
		return err
	}
	held, err := p.tx.LotSummary(ctx, ledger.CustomerAccount(cust.ID, "points"), p.tx.Now())
	if err != nil {
		return err
	}
	take := min(due, held.Available)
	if take > 0 {
		// No more than the account held from the refund's date on: dated
		// back before a redemption (or before points that came later),
		// taking what is available now would leave the account below zero
		// as of the instants between, though not now.
		least, err := leastSince(ctx, p.tx, ledger.CustomerAccount(cust.ID, "points"), p.effective())
		if err != nil {
			return err
		}
		take = min(take, least)
	}
	owed := due - take
	// The earning channels get back all that is due, the volume channel's
	// first; the customer gives what they hold and owes the rest.
	fromVolume := min(shipmentDue, max(0, sh.volume-sh.reversed-sh.owed))
	p.postings.add("platform:points:earned:volume", fromVolume)
	p.postings.add("platform:points:earned:campaign", shipmentDue-fromVolume)
	p.postings.add("platform:points:earned:feedback", rating)
	p.postings.add(ledger.CustomerAccount(cust.ID, "points"), -take)
	p.postings.add(ledger.CustomerAccount(cust.ID, "points_owed"), -owed)
	res.Refund = &Refund{Refunded: money.Of(*ev.Amount), TotalRefunded: money.Of(total), PointsDue: due, PointsTakenBack: take, PointsOwed: owed,
		RatingPoints: rating}
	res.Points = -take
	if owed > 0 {
		p.after = append(p.after, func(entryID *int64) error {
			return recordOwed(ctx, p.tx, *entryID, cust.ID, ev.ShipmentID, due, owed)
		})
	}

	var before decimal.Decimal
	if err := p.tx.QueryRow(ctx, `UPDATE customer_months SET contribution = contribution - $3
WHERE customer_id = $1 AND month = $2 RETURNING contribution + $3`, cust.ID, sh.month, *ev.Amount).Scan(&before); err != nil {
		return err
	}
	res.Contribution = &Change{Month: rules.Month(sh.month), Before: money.Of(before), After: money.Of(before.Sub(*ev.Amount))}
	if _, err := p.tx.Exec(ctx, `UPDATE shipments SET refunded = $2, points_reversed = points_reversed + $3,
    points_owed = points_owed + $4 WHERE shipment_id = $1`, ev.ShipmentID, total, take, owed); err != nil {
		return err
	}
	if bonus != nil {
		return p.cancelReferral(ctx, res, *bonus)
	}
	return nil
}

// paidBonus is a referral bonus a shipment paid, still pending.
type paidBonus struct {
	referrer       string
	points, paidBy int64 // paidBy: the entry that paid it (its lot's)
	availableAt    time.Time
}

// paidBonus reads the still-pending referral bonus the event's shipment
// paid, when a refund in full occurring now would cancel it (nil: none, or
// its window has closed and it stands), and locks the referrer's row (the
// group locked it already, with its referees': this confirms they exist).
func (p *processor) paidBonus(ctx context.Context) (*paidBonus, error) {
	var b paidBonus
	err := p.tx.QueryRow(ctx, `SELECT referrer_id, points, available_at, entry_id FROM referral_bonuses
WHERE shipment_id = $1 AND status = 'paid'`, p.ev.ShipmentID).Scan(&b.referrer, &b.points, &b.availableAt, &b.paidBy)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !p.ev.OccurredAt.Before(b.availableAt)) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := customer(ctx, p.tx, b.referrer, true); err != nil {
		return nil, err
	}
	return &b, nil
}

// cancelReferral takes back a still-pending referral bonus that this
// shipment paid, now that it is refunded in full inside the return window;
// the referrer's points are locked (refund).
func (p *processor) cancelReferral(ctx context.Context, res *Result, b paidBonus) error {
	referrer, points, paidBy, availableAt := b.referrer, b.points, b.paidBy, b.availableAt
	// Take back what is left of the bonus's own lot. A refund that occurred
	// inside the window may arrive after it, when the referrer has spent the
	// bonus: what is gone is owed by the referrer (settled by the next
	// points that reach them), never the referee's refund refused.
	code := ledger.CustomerAccount(referrer, "points")
	left, err := p.tx.LotRemaining(ctx, code, paidBy)
	if err != nil {
		return err
	}
	// Dated back, it takes no more than the referrer's points held from
	// its date on: a redemption since may have spent them, with points
	// that came later in their place (pending bonus points count in the
	// balance by date as any others). The rest is owed, and settled at
	// once, dated now: first from what is left of the bonus's lot, then
	// from what the referrer holds available.
	least, err := leastSince(ctx, p.tx, code, p.effective())
	if err != nil {
		return err
	}
	take := min(points, left, least)
	owed := points - take
	if d := p.postings.debit(referrer, "referral", take); d != nil {
		d.DrawFrom = paidBy
	}
	p.postings.add("platform:points:earned:referral", owed)
	p.postings.add(ledger.CustomerAccount(referrer, "points_owed"), -owed)
	p.after = append(p.after, func(entryID *int64) error {
		_, err := p.tx.Exec(ctx, `UPDATE referral_bonuses SET status = 'cancelled', cancel_entry_id = $2 WHERE shipment_id = $1`,
			p.ev.ShipmentID, entryID)
		if err == nil && owed > 0 {
			err = recordOwed(ctx, p.tx, *entryID, referrer, p.ev.ShipmentID, points, owed)
		}
		if err == nil && owed > 0 && left > take {
			err = settle(ctx, p.tx, referrer, p.actor, []Settled{{RefundEntryID: *entryID, ShipmentID: p.ev.ShipmentID,
				Points: min(owed, left-take)}}, lotsFrom{bonus: paidBy})
		}
		if err == nil && owed > 0 {
			_, err = SettleOwed(ctx, p.tx, referrer, p.actor)
		}
		return err
	})
	res.Referral = &Referral{ReferrerID: referrer, Status: "cancelled", Points: -take, PointsOwed: owed, AvailableAt: availableAt}
	return nil
}

func (p *processor) feedback(ctx context.Context, res *Result) error {
	sh, err := p.lockShipment(ctx)
	if err != nil {
		return err
	}
	if sh.rated {
		return &fault.Error{Code: fault.AlreadyRated, Message: "shipment " + p.ev.ShipmentID + " has already been rated"}
	}
	if sh.refunded.Equal(sh.amount) {
		return &fault.Error{Code: fault.ShipmentRefunded, Message: "shipment " + p.ev.ShipmentID +
			" was refunded in full: it earns no rating"}
	}
	if _, err := p.tx.Exec(ctx, `UPDATE shipments SET rated_at = $2 WHERE shipment_id = $1`, p.ev.ShipmentID, p.ev.OccurredAt); err != nil {
		return err
	}
	points := p.rs.FeedbackPoints
	p.postings.credit(p.ev.CustomerID, "feedback", points, p.ev.OccurredAt, p.rs.ExpiresAt(p.ev.OccurredAt))
	res.Feedback = &Feedback{Rating: *p.ev.Rating, Points: points}
	res.Points = points
	return nil
}

// leastSince is the least balance the points account code shows as of at
// or any later instant (ledger.Tx.BalancesSince), never below zero; lock
// the balance first.
func leastSince(ctx context.Context, tx *ledger.Tx, code string, at time.Time) (int64, error) {
	now, err := tx.Balances(ctx, code)
	if err != nil {
		return 0, err
	}
	history, err := tx.BalancesSince(ctx, at, []string{code}, now)
	if err != nil {
		return 0, err
	}
	least := now[0]
	for _, d := range history[0] {
		least = decimal.Min(least, d.Balance)
	}
	return max(0, least.IntPart()), nil
}
