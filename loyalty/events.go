package loyalty

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/internal/textclass"
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
	// Preview is set on a preview's answer (PreviewBatch), never stored.
	Preview bool `json:"preview,omitempty"`

	// raised is the customer's tier in effect after a shipment that raised
	// it (Tier is the one before); nil when it did not. Not answered: it is
	// announced (customer.tier_changed).
	raised *rules.Tier
}

// Change is a month's contribution before and after the event.
type Change struct {
	Month  rules.Month `json:"month"`
	Before money.CNY   `json:"before"`
	After  money.CNY   `json:"after"`
}

// Referral is what a shipment or refund meant for the referrer.
type Referral struct {
	ReferrerID string `json:"referrer_id"`
	Status     string `json:"status"` // pending, capped, cancelled
	Points     int64  `json:"points,string"`
	// PointsOwed, when a cancelled bonus was spent already: what the
	// referrer owes (settled by the next points that reach them).
	PointsOwed  int64     `json:"points_owed,string,omitempty"`
	AvailableAt time.Time `json:"available_at"`
}

// Refund is what a refund took back.
type Refund struct {
	Refunded        money.CNY `json:"refunded"`
	TotalRefunded   money.CNY `json:"total_refunded"`
	PointsDue       int64     `json:"points_due,string"`
	PointsTakenBack int64     `json:"points_taken_back,string"`
	// PointsOwed could not be taken back (the customer held too few): the
	// customer owes them, and the next points that reach them settle them.
	PointsOwed int64 `json:"points_owed,string"`
	// RatingPoints, of PointsDue, are the rating's: a refund in full of a
	// rated shipment takes them back too.
	RatingPoints int64 `json:"rating_points,string,omitempty"`
}

// Feedback is what a rating earned.
type Feedback struct {
	Rating int   `json:"rating"`
	Points int64 `json:"points,string"`
}

var (
	// An event id is 1 to 128 visible ASCII bytes (^[\x21-\x7e]{1,128}$),
	// a shipment id 1 to 64 of ^[A-Za-z0-9_.:-]{1,64}$.
	eventIDBytes    = textclass.Of("", "\x21\x7e")
	shipmentIDBytes = textclass.Of("_.:-", "AZ", "az", "09")
	maxEventAmount  = decimal.NewFromInt(1_000_000_000)
)

// validEventID reports whether id may name an event: 1 to 128 visible
// ASCII characters.
func validEventID(id string) bool { return eventIDBytes.Match(id, 1, 128) }

// clockSkew is how far in the future an event's occurred_at may be.
const clockSkew = 5 * time.Minute

// Validate checks an event on its own, before it touches the database, and
// normalises it (times in UTC).
func (s *Service) Validate(ev *Event) error {
	bad := map[string]string{}
	if !validEventID(ev.EventID) {
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
	if !ValidShipmentID(ev.ShipmentID) {
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
	var buf [256]byte
	sum := sha256.Sum256(canon.appendMarshalled(buf[:0]))
	return sum[:]
}

// Outcome is one event's answer in a batch.
type Outcome struct {
	Result   Result
	Replayed bool
	Err      error
	// JSON is Result as JSON when it was encoded already (to be stored),
	// for callers that answer it as is; nil otherwise.
	JSON json.RawMessage
}

// job is one event to record: the key that sent it and the space its
// event id lives in (the key's partner's), the shipments it may refund or
// rate (those recorded in its space; an admin's, any: ledger.AnySpace), who
// acted, and the event's hash, which tells a retry from a conflicting reuse
// of its id.
type job struct {
	keyID int64
	space string
	reach string
	actor string
	ev    Event
	hash  []byte
}

// ProcessBatch records partners' events sent with key, each exactly once
// per (space, event_id), where the space is the key's (ledger.APIKey.Space:
// one per partner, whichever of its keys sends): a retry of the same event answers the first result and
// Replayed = true; the same event_id with a different body is
// fault.IdempotencyConflict. An event, its effects on the customer and its
// entry commit together; a refused event writes nothing, so it may be sent
// again once fixed. What a recorded event announces (notifications.go) is
// written in its group's transaction. Each event is refused or recorded on its own (one
// failing never fails another), those of one customer in the order given;
// outcomes are by index.
//
// Concurrent events are written together, many to a transaction (see
// processGroup). ProcessBatch returns when every event is durable or
// refused, or when ctx ends (the events still in flight then are recorded
// or not, and a retry finds out).
//
// Errors (per outcome): fault.Invalid, fault.InvalidAmount,
// fault.IdempotencyConflict, fault.UnknownCustomer, fault.UnknownShipment,
// fault.DuplicateShipment, fault.RefundExceeds, fault.AlreadyRated,
// fault.OccurredAtTooOld (see CheckBackdating).
func (s *Service) ProcessBatch(ctx context.Context, key ledger.APIKey, actor string, events []Event) []Outcome {
	out, jobs, at := s.newJobs(key, actor, events)
	if len(jobs) == 0 {
		return out
	}
	for n, j := range s.events.Submit(jobs) {
		o, err := j.Wait(ctx)
		if err != nil {
			o = Outcome{Err: err}
		}
		out[at[n]] = o
	}
	return out
}

// newJobs validates the events and makes a job of each valid one: out has
// the outcome of each invalid event, jobs[n] is events[at[n]].
func (s *Service) newJobs(key ledger.APIKey, actor string, events []Event) (out []Outcome, jobs []job, at []int) {
	space, reach := key.Space(), key.Space()
	if key.Role == ledger.RoleAdmin {
		reach = ledger.AnySpace
	}
	out = make([]Outcome, len(events))
	jobs = make([]job, 0, len(events))
	at = make([]int, 0, len(events))
	for i := range events {
		ev := events[i]
		if err := s.Validate(&ev); err != nil {
			out[i].Err = err
			continue
		}
		jobs = append(jobs, job{keyID: key.ID, space: space, reach: reach, actor: actor, ev: ev, hash: hashEvent(ev)})
		at = append(at, i)
	}
	return out, jobs, at
}

// Every event is recorded once per space and event id, in the events
// table with its result, in the transaction that records its effects. An
// event's load reads whether its id is recorded already (storedEvent), and
// the write that records its effects inserts its row (eventRows); a twin
// recorded meanwhile by a concurrent transaction makes that insert fail,
// and the event is loaded again (processAlone).

// eventKey is an event's identity: its space and its event id.
type eventKey struct {
	space   string
	eventID string
}

// storedEvent is a recorded event's hash and result.
type storedEvent struct {
	hash   []byte
	result []byte
}

// queueStoredEvent queues the lookup of one event's row, into stored when
// it exists.
func queueStoredEvent(b *pgx.Batch, j job, stored map[eventKey]storedEvent) {
	b.Queue(`SELECT request_hash, result FROM events WHERE space = $1 AND event_id = $2`, j.space, j.ev.EventID).
		Query(func(rows pgx.Rows) error {
			var se storedEvent
			_, err := pgx.ForEachRow(rows, []any{&se.hash, &se.result}, func() error {
				stored[eventKey{j.space, j.ev.EventID}] = storedEvent{hash: slices.Clone(se.hash), result: slices.Clone(se.result)}
				return nil
			})
			return err
		})
}

// replayOf answers a job whose event id is recorded already: the first
// answer's bytes for the same event, fault.IdempotencyConflict for another.
func replayOf(j job, stored storedEvent) Outcome {
	if !bytes.Equal(stored.hash, j.hash) {
		return Outcome{Err: &fault.Error{Code: fault.IdempotencyConflict,
			Message: "event_id " + j.ev.EventID + " was already posted with a different body"}}
	}
	var res Result
	if err := json.Unmarshal(stored.result, &res); err != nil {
		return Outcome{Err: err}
	}
	return Outcome{Result: res, Replayed: true, JSON: stored.result}
}

// encodeResult is a result's JSON, as stored and answered (encoding/json's
// bytes, written by hand: encode.go).
func encodeResult(res Result) []byte {
	return res.AppendJSON(make([]byte, 0, 512))
}

// eventRows are the rows of recorded events, as arrays for one statement.
type eventRows struct {
	keys                          []int64
	spaces, ids, types, customers []string
	hashes, results               [][]byte
	entries                       []int64 // 0: none
}

func (r *eventRows) add(j job, result []byte, entryID *int64) {
	var entry int64
	if entryID != nil {
		entry = *entryID
	}
	r.keys, r.spaces, r.ids, r.types = append(r.keys, j.keyID), append(r.spaces, j.space), append(r.ids, j.ev.EventID),
		append(r.types, j.ev.Type)
	r.customers = append(r.customers, j.ev.CustomerID)
	r.hashes, r.results, r.entries = append(r.hashes, j.hash), append(r.results, result), append(r.entries, entry)
}

// queue queues the insert of the rows, recorded at now. No ON CONFLICT: a
// twin recorded since the events were loaded fails it.
func (r *eventRows) queue(b *pgx.Batch, now time.Time) {
	b.Queue(`INSERT INTO events (key_id, space, event_id, type, customer_id, request_hash, result, entry_id, created_at)
SELECT u.key_id, u.space, u.event_id, u.type, u.customer, u.hash, u.result, nullif(u.entry, 0), $9::timestamptz
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::json[], $8::bigint[])
    AS u (key_id, space, event_id, type, customer, hash, result, entry)`,
		r.keys, r.spaces, r.ids, r.types, r.customers, r.hashes, r.results, r.entries, now)
}

// resultOf is an event's result before it is priced.
func resultOf(ev Event, rs rules.RuleSet) Result {
	return Result{EventID: ev.EventID, Type: ev.Type, CustomerID: ev.CustomerID, ShipmentID: ev.ShipmentID,
		OccurredAt: ev.OccurredAt, RuleVersion: rs.Version}
}

// entryMetadata is what an event's entry records of its pricing.
func entryMetadata(ev Event, res Result) json.RawMessage {
	m := metadataOf(ev, res)
	return m.appendMarshalled(nil)
}

// entryMeta is an event's entry's metadata.
type entryMeta struct {
	EventID            string           `json:"event_id"`
	CustomerID         string           `json:"customer_id"`
	ShipmentID         string           `json:"shipment_id"`
	Segment            string           `json:"segment,omitempty"`
	Level              int              `json:"level,omitempty"`
	Multiplier         *decimal.Decimal `json:"multiplier,omitempty"`
	Campaign           *string          `json:"campaign,omitempty"`
	CampaignMultiplier *decimal.Decimal `json:"campaign_multiplier,omitempty"`
	PointsDue          *int64           `json:"points_due,omitempty"`
	PointsOwed         *int64           `json:"points_owed,omitempty"`
	RatingPoints       int64            `json:"rating_points,omitempty"`
	ReferralOwed       int64            `json:"referral_points_owed,omitempty"`
}

func metadataOf(ev Event, res Result) entryMeta {
	m := entryMeta{EventID: ev.EventID, CustomerID: ev.CustomerID, ShipmentID: ev.ShipmentID}
	if r := res.Refund; r != nil {
		m.PointsDue, m.PointsOwed, m.RatingPoints = &r.PointsDue, &r.PointsOwed, r.RatingPoints
	}
	if r := res.Referral; r != nil {
		m.ReferralOwed = r.PointsOwed
	}
	if res.Tier != nil {
		m.Segment, m.Level = res.Tier.Segment, res.Tier.Level
	}
	if e := res.Earning; e != nil {
		m.Multiplier = &e.Multiplier
		if e.Campaign != nil {
			m.Campaign, m.CampaignMultiplier = e.Campaign, &e.CampaignMultiplier
		}
	}
	return m
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
	ps.add(earnedAccount(channel), -points)
}

// debit takes points back from the customer to the channel; they come from
// the soonest-expiring available lots unless the caller says otherwise on
// the returned posting.
func (ps *postingSet) debit(customerID, channel string, points int64) *ledger.PostingInput {
	if points <= 0 {
		return nil
	}
	ps.add(earnedAccount(channel), points)
	return ps.add(ledger.CustomerAccount(customerID, "points"), -points)
}

// earnedAccount is the platform account of an earning channel, the
// usual ones without building the code anew for each event.
func earnedAccount(channel string) string {
	switch channel {
	case "volume":
		return "platform:points:earned:volume"
	case "campaign":
		return "platform:points:earned:campaign"
	case "referral":
		return "platform:points:earned:referral"
	case "feedback":
		return "platform:points:earned:feedback"
	}
	return "platform:points:earned:" + channel
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
