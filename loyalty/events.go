package loyalty

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Event types partners post.
const (
	ShipmentCompleted = "shipment.completed"
	ShipmentRefunded  = "shipment.refunded"
	FeedbackSubmitted = "feedback.submitted"
)

// Event is what a partner reports. Amount is CNY.
type Event struct {
	EventID    string           `json:"event_id"`
	Type       string           `json:"type"`
	CustomerID string           `json:"customer_id"`
	OccurredAt time.Time        `json:"occurred_at"`
	ShipmentID string           `json:"shipment_id"`
	Amount     *decimal.Decimal `json:"amount,omitempty"`
	Rating     *int             `json:"rating,omitempty"`
}

// Result is what an event did, kept and answered again to a retry.
type Result struct {
	EventID      string         `json:"event_id"`
	Type         string         `json:"type"`
	CustomerID   string         `json:"customer_id"`
	ShipmentID   string         `json:"shipment_id"`
	OccurredAt   time.Time      `json:"occurred_at"`
	EntryID      *int64         `json:"entry_id"`
	RuleVersion  int            `json:"rule_version"`
	Tier         *rules.Tier    `json:"tier,omitempty"`
	Contribution *Change        `json:"contribution,omitempty"`
	Earning      *rules.Earning `json:"earning,omitempty"`
	Referral     *Referral      `json:"referral,omitempty"`
	Refund       *Refund        `json:"refund,omitempty"`
	Feedback     *Feedback      `json:"feedback,omitempty"`
	Points       int64          `json:"points,string"` // net points this event moved for the customer
}

// Change is a month's contribution before and after the event.
type Change struct {
	Month  rules.Month     `json:"month"`
	Before decimal.Decimal `json:"before"`
	After  decimal.Decimal `json:"after"`
}

// Referral is what a shipment or refund meant for the referrer.
type Referral struct {
	ReferrerID  string    `json:"referrer_id"`
	Status      string    `json:"status"` // pending, capped, cancelled
	Points      int64     `json:"points,string"`
	AvailableAt time.Time `json:"available_at"`
}

// Refund is what a refund took back.
type Refund struct {
	Refunded        decimal.Decimal `json:"refunded"`
	TotalRefunded   decimal.Decimal `json:"total_refunded"`
	PointsTakenBack int64           `json:"points_taken_back,string"`
	// PointsDropped could not be taken back: the customer held too few.
	PointsDropped int64 `json:"points_dropped,string"`
}

// Feedback is what a rating earned.
type Feedback struct {
	Rating int   `json:"rating"`
	Points int64 `json:"points,string"`
}

var (
	eventIDPattern    = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
	shipmentIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	maxEventAmount    = decimal.NewFromInt(1_000_000_000)
)

// clockSkew is how far in the future an event's occurred_at may be.
const clockSkew = 5 * time.Minute

// Validate checks an event on its own, before it touches the database, and
// normalises it (times in UTC).
func (s *Service) Validate(ev *Event) error {
	bad := map[string]string{}
	if !eventIDPattern.MatchString(ev.EventID) {
		bad["event_id"] = "1 to 128 visible ASCII characters"
	}
	if !ledger.ValidCustomerID(ev.CustomerID) {
		bad["customer_id"] = "1 to 64 letters, digits, '_', '.' or '-'"
	}
	if ev.OccurredAt.IsZero() {
		bad["occurred_at"] = "required"
	} else if ev.OccurredAt.After(s.now().Add(clockSkew)) {
		bad["occurred_at"] = "must not be in the future"
	}
	ev.OccurredAt = ev.OccurredAt.UTC().Truncate(time.Microsecond) // PostgreSQL's precision
	if !shipmentIDPattern.MatchString(ev.ShipmentID) {
		bad["shipment_id"] = "1 to 64 letters, digits, '_', '.', ':' or '-'"
	}
	switch ev.Type {
	case ShipmentCompleted, ShipmentRefunded:
		switch {
		case ev.Amount == nil:
			bad["amount"] = "required"
		case !ev.Amount.IsPositive() || ev.Amount.GreaterThan(maxEventAmount):
			bad["amount"] = "a positive CNY amount"
		case ledger.CNY.CheckScale(*ev.Amount) != nil:
			return &fault.Error{Code: fault.InvalidAmount, Message: "amount " + ev.Amount.String() + " is finer than the fen",
				Fields: map[string]string{"amount": "at most 2 decimals"}}
		}
		if ev.Rating != nil {
			bad["rating"] = "only for feedback.submitted"
		}
	case FeedbackSubmitted:
		if ev.Rating == nil || *ev.Rating < 1 || *ev.Rating > 5 {
			bad["rating"] = "a whole number from 1 to 5"
		}
		if ev.Amount != nil {
			bad["amount"] = "not for feedback.submitted"
		}
	default:
		bad["type"] = "one of shipment.completed, shipment.refunded, feedback.submitted"
	}
	if len(bad) > 0 {
		return &fault.Error{Code: fault.Invalid, Message: "the event is invalid", Fields: bad}
	}
	return nil
}

func hashEvent(ev Event) []byte {
	canon := ev
	if canon.Amount != nil {
		a := canon.Amount.Round(2)
		canon.Amount = &a
	}
	b, _ := json.Marshal(canon)
	sum := sha256.Sum256(b)
	return sum[:]
}

func storedResult(ctx context.Context, tx pgx.Tx, keyID int64, eventID string, hash []byte, res *Result) ([]byte, error) {
	var stored, doc []byte
	if err := tx.QueryRow(ctx, `SELECT request_hash, result FROM events WHERE key_id = $1 AND event_id = $2`,
		keyID, eventID).Scan(&stored, &doc); err != nil {
		return nil, err
	}
	if string(stored) != string(hash) {
		return nil, &fault.Error{Code: fault.IdempotencyConflict,
			Message: "event_id " + eventID + " was already posted with a different body"}
	}
	return doc, json.Unmarshal(doc, res)
}

// processor applies one event inside its transaction.
type processor struct {
	s     *Service
	tx    *ledger.Tx
	ev    Event
	actor string

	rs       rules.RuleSet
	postings postingSet
	after    []func(entryID *int64) error // rows to write once the entry exists
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
	case ShipmentCompleted:
		err = p.shipment(ctx, cust, &res)
	case ShipmentRefunded:
		err = p.refund(ctx, cust, &res)
	case FeedbackSubmitted:
		err = p.feedback(ctx, &res)
	}
	if err != nil {
		return res, err
	}
	if postings := p.postings.nonZero(); len(postings) > 0 {
		version := p.rs.Version
		meta := entryMetadata(ev, res)
		entry, err := p.tx.Post(ctx, ledger.EntryInput{Kind: ev.Type, EffectiveAt: ev.OccurredAt, Metadata: meta,
			Actor: p.actor, Postings: postings, RuleVersion: &version})
		if err != nil {
			return res, err
		}
		res.EntryID = &entry.ID
	}
	return res, p.afterPost(ctx, &res)
}

// credit adds points for the customer from a platform earning channel, as a
// lot available from availableAt that expires per the rules.
func (p *processor) credit(customerID, channel string, points int64, availableAt time.Time) {
	p.postings.credit(customerID, channel, points, availableAt, p.rs.ExpiresAt(p.ev.OccurredAt))
}

// resultOf is an event's result before it is priced.
func resultOf(ev Event, rs rules.RuleSet) Result {
	return Result{EventID: ev.EventID, Type: ev.Type, CustomerID: ev.CustomerID, ShipmentID: ev.ShipmentID,
		OccurredAt: ev.OccurredAt, RuleVersion: rs.Version}
}

// postingSet builds an event's entry, adding up the postings to one account
// (one posting, one lot).
type postingSet []ledger.PostingInput

// credit adds points for the customer from a platform earning channel, as a
// lot available from availableAt that expires at expires.
func (ps *postingSet) credit(customerID, channel string, points int64, availableAt, expires time.Time) {
	if points <= 0 {
		return
	}
	ps.add(ledger.CustomerAccount(customerID, "points"), points).Lot = &ledger.Lot{AvailableAt: availableAt, ExpiresAt: expires}
	ps.add("platform:points:earned:"+channel, -points)
}

// debit takes points back from the customer to the channel; they come from
// the soonest-expiring available lots unless the caller says otherwise on
// the returned posting.
func (ps *postingSet) debit(customerID, channel string, points int64) *ledger.PostingInput {
	if points <= 0 {
		return nil
	}
	ps.add("platform:points:earned:"+channel, points)
	return ps.add(ledger.CustomerAccount(customerID, "points"), -points)
}

func (ps *postingSet) add(account string, points int64) *ledger.PostingInput {
	for i := range *ps {
		if (*ps)[i].Account == account {
			(*ps)[i].Amount = (*ps)[i].Amount.Add(decimal.NewFromInt(points))
			return &(*ps)[i]
		}
	}
	*ps = append(*ps, ledger.PostingInput{Account: account, Amount: decimal.NewFromInt(points)})
	return &(*ps)[len(*ps)-1]
}

// nonZero are the postings that still move something.
func (ps postingSet) nonZero() []ledger.PostingInput {
	out := ps[:0:0]
	for _, posting := range ps {
		if !posting.Amount.IsZero() {
			out = append(out, posting)
		}
	}
	return out
}

// earnShipment prices a shipment: the customer's tier from last month's
// contribution and this month's so far, the earning with the campaigns
// active at its time, and the credits, into res and ps. An event alone and
// a group price through it alike.
func earnShipment(rs rules.RuleSet, ev Event, month rules.Month, last, this decimal.Decimal, campaigns []rules.Campaign,
	res *Result, ps *postingSet) rules.Earning {
	tier, _ := rs.TierInEffect(last, this)
	earning := rs.EarnShipment(*ev.Amount, tier, ev.OccurredAt, campaigns)
	expires := rs.ExpiresAt(ev.OccurredAt)
	ps.credit(ev.CustomerID, "volume", earning.Volume, ev.OccurredAt, expires)
	ps.credit(ev.CustomerID, "campaign", earning.CampaignPoints, ev.OccurredAt, expires)
	res.Tier, res.Earning, res.Points = &tier, &earning, earning.Points
	res.Contribution = &Change{Month: month, Before: this, After: this.Add(*ev.Amount)}
	return earning
}

// payReferral decides the referrer's bonus for a referee's shipment, credits
// it (pending until its lot is available) and records it in res. status is
// what its row says: paid, or capped (recorded, not paid).
func payReferral(rs rules.RuleSet, ev Event, referrer string, state rules.ReferralState, res *Result, ps *postingSet) (
	status string, points int64, availableAt time.Time) {
	outcome, points, availableAt := rs.ReferralFor(*ev.Amount, ev.OccurredAt, state)
	status = "paid"
	if outcome == rules.ReferralCapped {
		status = "capped"
	}
	ps.credit(referrer, "referral", points, availableAt, rs.ExpiresAt(ev.OccurredAt))
	res.Referral = &Referral{ReferrerID: referrer, Status: string(outcome), Points: points, AvailableAt: availableAt}
	return status, points, availableAt
}

// afterPost writes the rows that name the entry, now that it exists (or
// with a NULL entry when the event moved nothing).
func (p *processor) afterPost(ctx context.Context, res *Result) error {
	for _, write := range p.after {
		if err := write(res.EntryID); err != nil {
			return err
		}
	}
	return nil
}

func (p *processor) shipment(ctx context.Context, cust Customer, res *Result) error {
	ev, rs := p.ev, p.rs
	amount := *ev.Amount
	st, err := monthState(ctx, p.tx, rs, cust.ID, ev.OccurredAt)
	if err != nil {
		return err
	}
	campaigns, err := campaignsWhere(ctx, p.tx, `starts_at <= $1 AND ends_at > $1`, ev.OccurredAt)
	if err != nil {
		return err
	}
	active := make([]rules.Campaign, len(campaigns))
	for i, c := range campaigns {
		active[i] = c.Campaign
	}
	earning := earnShipment(rs, ev, st.this.Month, st.last.Amount, st.this.Amount, active, res, &p.postings)

	p.after = append(p.after, func(entryID *int64) error {
		_, err := p.tx.Exec(ctx, `INSERT INTO shipments (shipment_id, customer_id, amount, occurred_at, month,
    points_volume, points_campaign, rule_version, entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			ev.ShipmentID, cust.ID, amount, ev.OccurredAt, string(st.this.Month), earning.Volume, earning.CampaignPoints, rs.Version, entryID)
		if fault.UniqueViolation(err, "") {
			return &fault.Error{Code: fault.DuplicateShipment, Message: "shipment " + ev.ShipmentID + " was already completed by another event"}
		}
		return err
	})
	if _, err := p.tx.Exec(ctx, `INSERT INTO customer_months (customer_id, month, contribution, shipments) VALUES ($1, $2, $3, 1)
ON CONFLICT (customer_id, month) DO UPDATE SET contribution = customer_months.contribution + excluded.contribution,
    shipments = customer_months.shipments + 1`, cust.ID, string(st.this.Month), amount); err != nil {
		return err
	}
	if cust.ReferredBy != nil {
		return p.referral(ctx, cust, amount, st.this.Month, res)
	}
	return nil
}

func (p *processor) referral(ctx context.Context, cust Customer, amount decimal.Decimal, month rules.Month, res *Result) error {
	referrer := *cust.ReferredBy
	state := rules.ReferralState{HasReferrer: true}
	if err := p.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM referral_bonuses WHERE referee_id = $1)`, cust.ID).
		Scan(&state.AlreadyQualified); err != nil {
		return err
	}
	if state.AlreadyQualified || amount.LessThan(p.rs.Referral.MinShipment) {
		return nil
	}
	// The referrer's lock serialises the monthly cap. Referrers are
	// registered before their referees, so locks always run from referee to
	// referrer and never in a cycle.
	if _, err := customer(ctx, p.tx, referrer, true); err != nil {
		return err
	}
	if err := p.tx.QueryRow(ctx, `SELECT count(*) FROM referral_bonuses WHERE referrer_id = $1 AND month = $2 AND status = 'paid'`,
		referrer, string(month)).Scan(&state.PaidThisMonth); err != nil {
		return err
	}
	status, points, availableAt := payReferral(p.rs, p.ev, referrer, state, res, &p.postings)
	p.after = append(p.after, func(entryID *int64) error {
		if status != "paid" {
			entryID = nil
		}
		_, err := p.tx.Exec(ctx, `INSERT INTO referral_bonuses (referee_id, referrer_id, shipment_id, month, status, points,
    available_at, entry_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			cust.ID, referrer, p.ev.ShipmentID, string(month), status, points, availableAt, entryID)
		return err
	})
	return nil
}

type shipment struct {
	amount, refunded  decimal.Decimal
	month             string
	volume, campaign  int64
	reversed, dropped int64
	rated             bool
}

func (p *processor) loadShipment(ctx context.Context) (shipment, error) {
	var sh shipment
	err := p.tx.QueryRow(ctx, `SELECT amount, refunded, month, points_volume, points_campaign, points_reversed,
    points_dropped, rated_at IS NOT NULL
FROM shipments WHERE shipment_id = $1 AND customer_id = $2 FOR UPDATE`, p.ev.ShipmentID, p.ev.CustomerID).
		Scan(&sh.amount, &sh.refunded, &sh.month, &sh.volume, &sh.campaign, &sh.reversed, &sh.dropped, &sh.rated)
	if errors.Is(err, pgx.ErrNoRows) {
		return sh, &fault.Error{Code: fault.UnknownShipment,
			Message: "no completed shipment " + p.ev.ShipmentID + " for customer " + p.ev.CustomerID}
	}
	return sh, err
}

func (p *processor) refund(ctx context.Context, cust Customer, res *Result) error {
	ev := p.ev
	sh, err := p.loadShipment(ctx)
	if err != nil {
		return err
	}
	total := sh.refunded.Add(*ev.Amount)
	if total.GreaterThan(sh.amount) {
		return &fault.Error{Code: fault.RefundExceeds, Message: "refunds of " + total.StringFixed(2) +
			" would exceed shipment " + ev.ShipmentID + "'s " + sh.amount.StringFixed(2)}
	}
	earned := sh.volume + sh.campaign
	want := rules.TakeBack(earned, sh.amount, sh.refunded, *ev.Amount, sh.reversed+sh.dropped)
	// Lock the points balance before reading what is available, so that no
	// debit outside loyalty's own flows (an expiry run, a manual entry) can
	// take it between the read and the draw.
	if err := p.tx.LockBalance(ctx, ledger.CustomerAccount(cust.ID, "points")); err != nil {
		return err
	}
	held, err := pointsSummary(ctx, p.tx, cust.ID)
	if err != nil {
		return err
	}
	take := min(want, held.Available)
	dropped := want - take
	// Take back from the volume channel first, then the campaign's.
	fromVolume := min(take, max(0, sh.volume-sh.reversed))
	p.postings.debit(cust.ID, "volume", fromVolume)
	p.postings.debit(cust.ID, "campaign", take-fromVolume)
	res.Refund = &Refund{Refunded: *ev.Amount, TotalRefunded: total, PointsTakenBack: take, PointsDropped: dropped}
	res.Points = -take

	var before decimal.Decimal
	if err := p.tx.QueryRow(ctx, `UPDATE customer_months SET contribution = contribution - $3
WHERE customer_id = $1 AND month = $2 RETURNING contribution + $3`, cust.ID, sh.month, *ev.Amount).Scan(&before); err != nil {
		return err
	}
	res.Contribution = &Change{Month: rules.Month(sh.month), Before: before, After: before.Sub(*ev.Amount)}
	if _, err := p.tx.Exec(ctx, `UPDATE shipments SET refunded = $2, points_reversed = points_reversed + $3,
    points_dropped = points_dropped + $4 WHERE shipment_id = $1`, ev.ShipmentID, total, take, dropped); err != nil {
		return err
	}
	if total.Equal(sh.amount) {
		return p.cancelReferral(ctx, res)
	}
	return nil
}

// cancelReferral takes back a still-pending referral bonus that this
// shipment paid, now that it is refunded in full inside the return window.
func (p *processor) cancelReferral(ctx context.Context, res *Result) error {
	var referrer string
	var points, paidBy int64
	var availableAt time.Time
	err := p.tx.QueryRow(ctx, `SELECT referrer_id, points, available_at, entry_id FROM referral_bonuses
WHERE shipment_id = $1 AND status = 'paid'`, p.ev.ShipmentID).Scan(&referrer, &points, &availableAt, &paidBy)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !p.ev.OccurredAt.Before(availableAt)) {
		return nil // none, or the window has closed: the bonus stands
	}
	if err != nil {
		return err
	}
	if _, err := customer(ctx, p.tx, referrer, true); err != nil {
		return err
	}
	// Take back what is left of the bonus's own lot. A refund that occurred
	// inside the window may arrive after it, when the referrer has spent the
	// bonus: what is gone is dropped, never the referee's refund refused.
	left, err := p.tx.LotRemaining(ctx, ledger.CustomerAccount(referrer, "points"), paidBy)
	if err != nil {
		return err
	}
	take := min(points, left)
	if d := p.postings.debit(referrer, "referral", take); d != nil {
		d.DrawFrom = paidBy
	}
	p.after = append(p.after, func(entryID *int64) error {
		_, err := p.tx.Exec(ctx, `UPDATE referral_bonuses SET status = 'cancelled', cancel_entry_id = $2 WHERE shipment_id = $1`,
			p.ev.ShipmentID, entryID)
		return err
	})
	res.Referral = &Referral{ReferrerID: referrer, Status: "cancelled", Points: -take, AvailableAt: availableAt}
	return nil
}

func (p *processor) feedback(ctx context.Context, res *Result) error {
	sh, err := p.loadShipment(ctx)
	if err != nil {
		return err
	}
	if sh.rated {
		return &fault.Error{Code: fault.AlreadyRated, Message: "shipment " + p.ev.ShipmentID + " has already been rated"}
	}
	if _, err := p.tx.Exec(ctx, `UPDATE shipments SET rated_at = $2 WHERE shipment_id = $1`, p.ev.ShipmentID, p.ev.OccurredAt); err != nil {
		return err
	}
	points := p.rs.FeedbackPoints
	p.credit(p.ev.CustomerID, "feedback", points, p.ev.OccurredAt)
	res.Feedback = &Feedback{Rating: *p.ev.Rating, Points: points}
	res.Points = points
	return nil
}
