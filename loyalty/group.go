package loyalty

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// How events are grouped: up to groupWriters transactions at once, each of
// at most groupMaxEvents events (unless one submission, a batch, has more). groupTimeout bounds a group's transaction, whatever its callers'
// contexts: one caller giving up must not abort its neighbours.
const (
	groupWriters   = 2
	groupMaxEvents = 1000
	groupTimeout   = 60 * time.Second
)

// Reading tells the event writers that a read is in flight, until done is
// called: they hold back new groups for a moment, so that reads (a customer
// checking a balance) are answered first on a busy machine.
func (s *Service) Reading() (done func()) {
	s.events.reads.Add(1)
	return func() { s.events.reads.Add(-1) }
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

// encodeResult is a result's JSON, as stored and answered.
func encodeResult(res Result) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ProcessBatch records partners' events, each exactly once per (key,
// event_id): a retry of the same event answers the first result and
// Replayed = true; the same event_id with a different body is
// fault.IdempotencyConflict. An event, its effects on the customer and its
// entry commit together; a refused event writes nothing, so it may be sent
// again once fixed. Each event is refused or recorded on its own (one
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
// fault.DuplicateShipment, fault.RefundExceeds, fault.AlreadyRated.
func (s *Service) ProcessBatch(ctx context.Context, keyID int64, actor string, events []Event) []Outcome {
	out, jobs, at := s.newJobs(keyID, actor, events)
	if len(jobs) == 0 {
		return out
	}
	s.events.submit(jobs)
	for n, j := range jobs {
		select {
		case <-j.done:
			out[at[n]] = j.out
		case <-ctx.Done():
			out[at[n]].Err = ctx.Err()
		}
	}
	return out
}

// newJobs validates the events and makes a job of each valid one: out has
// the outcome of each invalid event, jobs[n] is events[at[n]].
func (s *Service) newJobs(keyID int64, actor string, events []Event) (out []Outcome, jobs []*job, at []int) {
	out = make([]Outcome, len(events))
	jobs = make([]*job, 0, len(events))
	at = make([]int, 0, len(events))
	for i := range events {
		ev := events[i]
		if err := s.Validate(&ev); err != nil {
			out[i].Err = err
			continue
		}
		jobs = append(jobs, &job{keyID: keyID, actor: actor, ev: ev, hash: hashEvent(ev), done: make(chan struct{})})
		at = append(at, i)
	}
	return out, jobs, at
}

// processGroup writes a group of events in one transaction and answers each
// job. The fast path prices the group's shipments together in Go and writes
// each table once; should anything in it fail, the group is done again
// event by event, each in a savepoint (Stats().Fallbacks counts these).
// Only a failure of the transaction itself fails every event of the group.
func (s *Service) processGroup(group []*job) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	outs, err := s.writeGroup(ctx, group, true)
	if err != nil && ctx.Err() == nil {
		s.stats.Fallbacks.Add(1)
		// A deadline of its own: the first attempt may have used most of
		// its time. (Should that attempt's commit have succeeded despite
		// its error, the events are found stored and answered as replays.)
		ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
		defer cancel()
		outs, err = s.writeGroup(ctx, group, false)
	}
	for i, j := range group {
		if err != nil {
			outs[i] = Outcome{Err: err}
		}
		j.finish(outs[i])
	}
}

// writeGroup writes the group in one transaction, with the fast path for
// its shipments when fast is set, event by event otherwise, and returns
// each job's outcome by index.
func (s *Service) writeGroup(ctx context.Context, group []*job, fast bool) ([]Outcome, error) {
	outs := make([]Outcome, len(group))
	err := s.guard(func() error {
		return s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
			clear(outs)
			return s.groupTx(ctx, tx, group, outs, fast)
		})
	})
	return outs, err
}

// guard turns a panic (a bug) into an error, so that every waiting job gets
// an answer and the server lives on.
func (s *Service) guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("event group: panic: %v", r)
		}
	}()
	return fn()
}

// groupTx processes the group in tx. It first locks every customer the
// group touches and their referrers, in id order, so that concurrent groups
// never wait for each other in a cycle. Then, in order, runs of
// shipment.completed events go through the fast path when fast is set, and
// every other event is processed on its own in a savepoint.
func (s *Service) groupTx(ctx context.Context, tx *ledger.Tx, group []*job, outs []Outcome, fast bool) error {
	// The leading run of shipments reads its state in the lock's round trip.
	var first []int
	for i, j := range group {
		if !fast || j.ev.Type != ShipmentCompleted {
			break
		}
		first = append(first, i)
	}
	var (
		b     pgx.Batch
		st    *shipmentState
		custs = map[string]Customer{}
		err   error
	)
	queueLock(&b, group, custs)
	if len(first) > 0 {
		if st, err = s.queueShipmentReads(ctx, tx, &b, group, first); err != nil {
			return err
		}
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	run := first
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := s.shipments(ctx, tx, group, run, custs, st, outs)
		run, st = nil, nil
		return err
	}
	for i := len(first); i < len(group); i++ {
		if j := group[i]; fast && j.ev.Type == ShipmentCompleted {
			run = append(run, i)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := s.processAlone(ctx, tx, group[i], &outs[i]); err != nil {
			return err
		}
	}
	return flush()
}

// processAlone processes one event in a savepoint: a refusal undoes only
// what it did. A transient failure (a deadlock) is returned, for the whole
// group to be retried.
func (s *Service) processAlone(ctx context.Context, tx *ledger.Tx, j *job, out *Outcome) error {
	var (
		res      Result
		doc      []byte
		replayed bool
	)
	err := tx.Savepoint(ctx, func(tx *ledger.Tx) (err error) {
		res, doc, replayed, err = s.processIn(ctx, tx, j)
		return err
	})
	if err != nil && (fault.Transient(err) || ctx.Err() != nil) {
		return err
	}
	*out = Outcome{Result: res, Replayed: replayed, Err: err, JSON: doc}
	return nil
}

// processIn records one event in tx, or answers the stored result of an
// earlier one with the same id. doc is the recorded result's JSON.
func (s *Service) processIn(ctx context.Context, tx *ledger.Tx, j *job) (res Result, doc []byte, replayed bool, err error) {
	ev := j.ev
	// Claim the event id first: a concurrent twin waits here, then finds
	// the first one's result.
	tag, err := tx.Exec(ctx, `INSERT INTO events (key_id, event_id, type, customer_id, request_hash, result, created_at)
VALUES ($1, $2, $3, $4, $5, '{}', $6) ON CONFLICT DO NOTHING`, j.keyID, ev.EventID, ev.Type, ev.CustomerID, j.hash, tx.Now())
	if err != nil {
		return res, nil, false, err
	}
	if tag.RowsAffected() == 0 {
		doc, err = storedResult(ctx, tx, j.keyID, ev.EventID, j.hash, &res)
		return res, doc, true, err // a replay answers the first answer's bytes
	}
	p := processor{s: s, tx: tx, ev: ev, actor: j.actor}
	if res, err = p.run(ctx); err != nil {
		return res, nil, false, err
	}
	if doc, err = encodeResult(res); err != nil {
		return res, nil, false, err
	}
	_, err = tx.Exec(ctx, `UPDATE events SET result = $3, entry_id = $4 WHERE key_id = $1 AND event_id = $2`,
		j.keyID, ev.EventID, doc, res.EntryID)
	return res, doc, false, err
}

// queueLock queues the locking of the group's customers and their
// referrers, in id order, and fills custs with them (an unknown customer is
// absent).
//
// The group's statements look rows up one by one through LATERAL
// subqueries (OFFSET 0 keeps the planner from flattening them into a join):
// whatever a cached generic plan thinks of the arrays' lengths and the
// tables' sizes, each lookup is an index probe, never a scan of the table.
// So the group runs on generic plans, without planning each time.
func queueLock(b *pgx.Batch, group []*job, custs map[string]Customer) {
	ids := make([]string, 0, len(group))
	for _, j := range group {
		ids = append(ids, j.ev.CustomerID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	b.Queue(`SET LOCAL plan_cache_mode = force_generic_plan`)
	b.Queue(`SELECT c.id, c.name, c.referred_by, c.created_at
FROM (SELECT u.id FROM unnest($1::text[]) AS u (id)
      UNION SELECT r.referred_by FROM unnest($1::text[]) AS u (id)
            CROSS JOIN LATERAL (SELECT referred_by FROM customers WHERE id = u.id OFFSET 0) r
      ORDER BY 1) ids
CROSS JOIN LATERAL (SELECT id, name, referred_by, created_at FROM customers WHERE id = ids.id FOR UPDATE) c`, ids).
		Query(func(rows pgx.Rows) error {
			var c Customer
			_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.Name, &c.ReferredBy, &c.CreatedAt}, func() error {
				custs[c.ID] = c
				return nil
			})
			return err
		})
}

// shipmentState is what a run of shipments reads before it is priced, and
// keeps up to date as it prices them one by one, in order.
type shipmentState struct {
	rulesets  []rules.RuleSet // by position in the run
	entryIDs  []int64         // reserved, one per shipment at most
	referrals bool            // the referral state has been read
	stored    map[eventKey]storedEvent
	months    map[customerMonth]decimal.Decimal
	campaigns []rules.Campaign
	shipped   map[string]bool // shipment ids already completed
	qualified map[string]bool // referees with a bonus recorded
	paid      map[customerMonth]int
}

type storedEvent struct {
	hash   []byte
	result []byte
}

type customerMonth struct {
	customer string
	month    rules.Month
}

// shipments prices and records a run of shipment.completed events (indexes
// into group) with a fixed number of statements: one round trip reads all
// the state they need (st, when the caller has read it already), pricing
// happens in Go in event order, and one round trip writes every table once.
// Events refused by the rules get their error and write nothing; an error
// returned means the run could not be written.
func (s *Service) shipments(ctx context.Context, tx *ledger.Tx, group []*job, run []int, custs map[string]Customer,
	st *shipmentState, outs []Outcome) error {
	var b pgx.Batch
	if st == nil {
		var err error
		if st, err = s.queueShipmentReads(ctx, tx, &b, group, run); err != nil {
			return err
		}
	}
	st.queueReferralReads(&b, group, run, custs)
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
	}
	priced := make([]*pricedShipment, 0, len(run))
	for n, i := range run {
		j := group[i]
		if stored, ok := st.stored[eventKey{j.keyID, j.ev.EventID}]; ok {
			outs[i] = replayOf(j, stored)
			continue
		}
		p, err := st.price(j, custs, st.rulesets[n])
		if err != nil {
			outs[i].Err = err
			continue
		}
		p.index = i
		priced = append(priced, p)
	}
	return s.writeShipments(ctx, tx, group, priced, st.entryIDs, outs)
}

func replayOf(j *job, stored storedEvent) Outcome {
	if !bytes.Equal(stored.hash, j.hash) {
		return Outcome{Err: &fault.Error{Code: fault.IdempotencyConflict,
			Message: "event_id " + j.ev.EventID + " was already posted with a different body"}}
	}
	var res Result
	if err := json.Unmarshal(stored.result, &res); err != nil {
		return Outcome{Err: err}
	}
	return Outcome{Result: res, Replayed: true, JSON: stored.result} // the first answer's bytes
}

// queueShipmentReads queues the reads of what a run of shipments needs:
// the stored events, the months' contributions, the campaigns, the
// shipments already completed, and entry ids for them. (The referral state
// needs the customers, locked first: queueReferralReads.)
func (s *Service) queueShipmentReads(ctx context.Context, tx *ledger.Tx, b *pgx.Batch, group []*job, run []int) (*shipmentState, error) {
	st := &shipmentState{rulesets: make([]rules.RuleSet, len(run)), stored: map[eventKey]storedEvent{},
		months: map[customerMonth]decimal.Decimal{}, shipped: map[string]bool{}, qualified: map[string]bool{},
		paid: map[customerMonth]int{}}
	var (
		keyIDs                []int64
		eventIDs, shipmentIDs []string
		mCustomers, mMonths   []string
		from, until           time.Time
	)
	for n, i := range run {
		ev := group[i].ev
		rs, err := s.rulesAt(ctx, tx, ev.OccurredAt)
		if err != nil {
			return nil, err
		}
		st.rulesets[n] = rs
		keyIDs, eventIDs, shipmentIDs = append(keyIDs, group[i].keyID), append(eventIDs, ev.EventID), append(shipmentIDs, ev.ShipmentID)
		this := rs.MonthOf(ev.OccurredAt)
		mCustomers = append(mCustomers, ev.CustomerID, ev.CustomerID)
		mMonths = append(mMonths, string(this), string(this.Prev()))
		if from.IsZero() || ev.OccurredAt.Before(from) {
			from = ev.OccurredAt
		}
		if ev.OccurredAt.After(until) {
			until = ev.OccurredAt
		}
	}
	b.Queue(`SELECT u.key_id, u.event_id, e.request_hash, e.result
FROM unnest($1::bigint[], $2::text[]) AS u (key_id, event_id)
CROSS JOIN LATERAL (SELECT request_hash, result FROM events WHERE key_id = u.key_id AND event_id = u.event_id OFFSET 0) e`,
		keyIDs, eventIDs).Query(func(rows pgx.Rows) error {
		var k eventKey
		var se storedEvent
		_, err := pgx.ForEachRow(rows, []any{&k.keyID, &k.eventID, &se.hash, &se.result}, func() error {
			st.stored[k] = storedEvent{hash: slices.Clone(se.hash), result: slices.Clone(se.result)}
			return nil
		})
		return err
	})
	b.Queue(`SELECT u.customer_id, u.month, m.contribution
FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS u (customer_id, month)
CROSS JOIN LATERAL (SELECT contribution FROM customer_months WHERE customer_id = u.customer_id AND month = u.month OFFSET 0) m`,
		mCustomers, mMonths).Query(func(rows pgx.Rows) error {
		var cm customerMonth
		var amount decimal.Decimal
		_, err := pgx.ForEachRow(rows, []any{&cm.customer, &cm.month, &amount}, func() error {
			st.months[cm] = amount
			return nil
		})
		return err
	})
	b.Queue(`SELECT id, starts_at, ends_at, multiplier, coalesce(segments, '{}') FROM campaigns
WHERE starts_at <= $2 AND ends_at > $1 ORDER BY starts_at, id`, from, until).Query(func(rows pgx.Rows) error {
		var c rules.Campaign
		_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.StartsAt, &c.EndsAt, &c.Multiplier, &c.Segments}, func() error {
			camp := c
			if len(camp.Segments) == 0 {
				camp.Segments = nil
			}
			st.campaigns = append(st.campaigns, camp)
			return nil
		})
		return err
	})
	queueExisting(b, `SELECT 1 FROM shipments WHERE shipment_id = u.id`, shipmentIDs, st.shipped)
	ledger.QueueEntryIDs(b, len(run), &st.entryIDs)
	return st, nil
}

// queueReferralReads queues, once per run and only if a customer of the run
// was referred, the reads of the referral state: which referees already
// have a bonus, and how many bonuses their referrers were paid in the
// months of the run.
func (st *shipmentState) queueReferralReads(b *pgx.Batch, group []*job, run []int, custs map[string]Customer) {
	if st.referrals {
		return
	}
	st.referrals = true
	var referees, referrers, refMonths []string
	for n, i := range run {
		ev := group[i].ev
		if c, ok := custs[ev.CustomerID]; ok && c.ReferredBy != nil {
			referees, referrers = append(referees, c.ID), append(referrers, *c.ReferredBy)
			refMonths = append(refMonths, string(st.rulesets[n].MonthOf(ev.OccurredAt)))
		}
	}
	if len(referees) > 0 {
		queueExisting(b, `SELECT 1 FROM referral_bonuses WHERE referee_id = u.id`, referees, st.qualified)
		b.Queue(`SELECT u.referrer_id, u.month, r.paid
FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS u (referrer_id, month)
CROSS JOIN LATERAL (SELECT count(*) AS paid FROM referral_bonuses
                    WHERE referrer_id = u.referrer_id AND month = u.month AND status = 'paid' OFFSET 0) r`, referrers, refMonths).Query(func(rows pgx.Rows) error {
			var cm customerMonth
			var n int
			_, err := pgx.ForEachRow(rows, []any{&cm.customer, &cm.month, &n}, func() error {
				st.paid[cm] = n
				return nil
			})
			return err
		})
	}
}

// queueExisting queues the lookup of which ids have a row, marking them in
// found; lookup is a query on u.id.
func queueExisting(b *pgx.Batch, lookup string, ids []string, found map[string]bool) {
	b.Queue(`SELECT u.id FROM unnest($1::text[]) AS u (id) CROSS JOIN LATERAL (`+lookup+` OFFSET 0) x`, ids).
		Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				found[id] = true
				return nil
			})
			return err
		})
}

// pricedShipment is a shipment priced by the rules, waiting to be written.
type pricedShipment struct {
	index    int
	rs       rules.RuleSet
	month    rules.Month
	earning  rules.Earning
	referral *referralRow
	res      Result
	doc      []byte // res as JSON, once its entry id is known
	entry    *ledger.EntryInput
}

type referralRow struct {
	referrer    string
	status      string
	points      int64
	availableAt time.Time
}

// price prices one shipment against the state so far, as processor.shipment
// and processor.referral do for an event alone, and brings the state up to
// date with it.
func (st *shipmentState) price(j *job, custs map[string]Customer, rs rules.RuleSet) (*pricedShipment, error) {
	ev := j.ev
	cust, ok := custs[ev.CustomerID]
	if !ok {
		return nil, &fault.Error{Code: fault.UnknownCustomer, Message: "no customer " + ev.CustomerID}
	}
	if st.shipped[ev.ShipmentID] {
		return nil, &fault.Error{Code: fault.DuplicateShipment, Message: "shipment " + ev.ShipmentID + " was already completed by another event"}
	}
	amount := *ev.Amount
	this := customerMonth{cust.ID, rs.MonthOf(ev.OccurredAt)}
	last := customerMonth{cust.ID, this.month.Prev()}
	var active []rules.Campaign
	for _, c := range st.campaigns {
		if !c.StartsAt.After(ev.OccurredAt) && c.EndsAt.After(ev.OccurredAt) {
			active = append(active, c)
		}
	}
	p := &pricedShipment{rs: rs, month: this.month, res: resultOf(ev, rs)}
	var postings postingSet
	p.earning = earnShipment(rs, ev, this.month, st.months[last], st.months[this], active, &p.res, &postings)
	if cust.ReferredBy != nil && !st.qualified[cust.ID] && !amount.LessThan(rs.Referral.MinShipment) {
		referrer := *cust.ReferredBy
		rm := customerMonth{referrer, this.month}
		r := &referralRow{referrer: referrer}
		r.status, r.points, r.availableAt = payReferral(rs, ev, referrer,
			rules.ReferralState{HasReferrer: true, PaidThisMonth: st.paid[rm]}, &p.res, &postings)
		if r.status == "paid" {
			st.paid[rm]++
		}
		st.qualified[cust.ID] = true
		p.referral = r
	}
	st.shipped[ev.ShipmentID] = true
	st.months[this] = st.months[this].Add(amount)
	if len(postings) > 0 {
		version := rs.Version
		p.entry = &ledger.EntryInput{Kind: ev.Type, EffectiveAt: ev.OccurredAt, Metadata: entryMetadata(ev, p.res),
			Actor: j.actor, Postings: postings, RuleVersion: &version, RequestHash: j.hash}
	}
	return p, nil
}

// entryMetadata is what an event's entry records of its pricing.
func entryMetadata(ev Event, res Result) json.RawMessage {
	m := struct {
		EventID            string           `json:"event_id"`
		CustomerID         string           `json:"customer_id"`
		ShipmentID         string           `json:"shipment_id"`
		Segment            string           `json:"segment,omitempty"`
		Level              int              `json:"level,omitempty"`
		Multiplier         *decimal.Decimal `json:"multiplier,omitempty"`
		Campaign           *string          `json:"campaign,omitempty"`
		CampaignMultiplier *decimal.Decimal `json:"campaign_multiplier,omitempty"`
	}{EventID: ev.EventID, CustomerID: ev.CustomerID, ShipmentID: ev.ShipmentID}
	if res.Tier != nil {
		m.Segment, m.Level = res.Tier.Segment, res.Tier.Level
	}
	if e := res.Earning; e != nil {
		m.Multiplier = &e.Multiplier
		if e.Campaign != nil {
			m.Campaign, m.CampaignMultiplier = e.Campaign, &e.CampaignMultiplier
		}
	}
	meta, _ := json.Marshal(m)
	return meta
}

// writeShipments records the priced shipments: their entries, shipments,
// months, referral bonuses and event results, each table in one statement.
func (s *Service) writeShipments(ctx context.Context, tx *ledger.Tx, group []*job, priced []*pricedShipment, entryIDs []int64,
	outs []Outcome) error {
	if len(priced) == 0 {
		return nil
	}
	var entries []ledger.EntryInput
	for _, p := range priced {
		if p.entry != nil {
			entries = append(entries, *p.entry)
		}
	}
	var marshalErr error
	err := tx.PostMany(ctx, entries, entryIDs, func(ids []int64, b *pgx.Batch) {
		var (
			shipIDs, shipCusts, shipMonths []string
			shipAmounts                    []string // amounts as text: no reflection to encode
			shipAt                         []time.Time
			shipVolume, shipCampaign       []int64
			shipVersions                   []int32
			shipEntries                    []int64 // 0: none

			months = map[customerMonth]decimal.Decimal{}
			counts = map[customerMonth]int32{}
			order  []customerMonth

			refReferees, refReferrers, refShipments, refMonths, refStatus []string
			refPoints                                                     []int64
			refAvailable                                                  []time.Time
			refEntries                                                    []int64

			evKeys                      []int64
			evIDs, evTypes, evCustomers []string
			evHashes, evResults         [][]byte
			evEntries                   []int64
		)
		n := 0
		for _, p := range priced {
			j := group[p.index]
			ev := j.ev
			if p.entry != nil {
				id := ids[n]
				n++
				p.res.EntryID = &id
			}
			shipIDs, shipCusts, shipMonths = append(shipIDs, ev.ShipmentID), append(shipCusts, ev.CustomerID), append(shipMonths, string(p.month))
			shipAmounts, shipAt = append(shipAmounts, ev.Amount.String()), append(shipAt, ev.OccurredAt)
			shipVolume, shipCampaign = append(shipVolume, p.earning.Volume), append(shipCampaign, p.earning.CampaignPoints)
			var entryID int64
			if p.res.EntryID != nil {
				entryID = *p.res.EntryID
			}
			shipVersions, shipEntries = append(shipVersions, int32(p.rs.Version)), append(shipEntries, entryID)
			cm := customerMonth{ev.CustomerID, p.month}
			if _, ok := months[cm]; !ok {
				order = append(order, cm)
			}
			months[cm] = months[cm].Add(*ev.Amount)
			counts[cm]++
			if r := p.referral; r != nil {
				entry := entryID
				if r.status != "paid" {
					entry = 0
				}
				refReferees, refReferrers, refShipments = append(refReferees, ev.CustomerID), append(refReferrers, r.referrer), append(refShipments, ev.ShipmentID)
				refMonths, refStatus, refPoints = append(refMonths, string(p.month)), append(refStatus, r.status), append(refPoints, r.points)
				refAvailable, refEntries = append(refAvailable, r.availableAt), append(refEntries, entry)
			}
			doc, err := encodeResult(p.res)
			if err != nil {
				marshalErr = err
			}
			p.doc = doc
			evKeys, evIDs, evTypes, evCustomers = append(evKeys, j.keyID), append(evIDs, ev.EventID), append(evTypes, ev.Type), append(evCustomers, ev.CustomerID)
			evHashes, evResults, evEntries = append(evHashes, j.hash), append(evResults, doc), append(evEntries, entryID)
		}
		b.Queue(`INSERT INTO shipments (shipment_id, customer_id, amount, occurred_at, month, points_volume, points_campaign,
    rule_version, entry_id)
SELECT u.id, u.customer, u.amount::numeric, u.at, u.month, u.volume, u.campaign, u.version, nullif(u.entry, 0)
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::bigint[], $7::bigint[],
    $8::integer[], $9::bigint[]) AS u (id, customer, amount, at, month, volume, campaign, version, entry)`, shipIDs, shipCusts, shipAmounts, shipAt, shipMonths, shipVolume, shipCampaign, shipVersions, shipEntries)
		slices.SortFunc(order, func(a, b customerMonth) int {
			return cmp.Or(strings.Compare(a.customer, b.customer), strings.Compare(string(a.month), string(b.month)))
		})
		mCusts, mMonths := make([]string, len(order)), make([]string, len(order))
		mAmounts, mCounts := make([]string, len(order)), make([]int32, len(order))
		for i, cm := range order {
			mCusts[i], mMonths[i], mAmounts[i], mCounts[i] = cm.customer, string(cm.month), months[cm].String(), counts[cm]
		}
		b.Queue(`INSERT INTO customer_months (customer_id, month, contribution, shipments)
SELECT u.customer, u.month, u.amount::numeric, u.n FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) AS u (customer, month, amount, n)
ON CONFLICT (customer_id, month) DO UPDATE SET contribution = customer_months.contribution + excluded.contribution,
    shipments = customer_months.shipments + excluded.shipments`, mCusts, mMonths, mAmounts, mCounts)
		if len(refReferees) > 0 {
			b.Queue(`INSERT INTO referral_bonuses (referee_id, referrer_id, shipment_id, month, status, points, available_at, entry_id)
SELECT u.referee, u.referrer, u.shipment, u.month, u.status, u.points, u.available_at, nullif(u.entry, 0)
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[], $8::bigint[])
    AS u (referee, referrer, shipment, month, status, points, available_at, entry)`,
				refReferees, refReferrers, refShipments, refMonths, refStatus, refPoints, refAvailable, refEntries)
		}
		// No ON CONFLICT: a twin committed by a concurrent group since the
		// state was read fails the run, and the event-by-event path then
		// answers it as a replay.
		b.Queue(`INSERT INTO events (key_id, event_id, type, customer_id, request_hash, result, entry_id, created_at)
SELECT u.key_id, u.event_id, u.type, u.customer, u.hash, u.result, nullif(u.entry, 0), $8::timestamptz
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::json[], $7::bigint[])
    AS u (key_id, event_id, type, customer, hash, result, entry)`,
			evKeys, evIDs, evTypes, evCustomers, evHashes, evResults, evEntries, tx.Now())
	})
	if err == nil {
		err = marshalErr
	}
	if err != nil {
		return err
	}
	for _, p := range priced {
		outs[p.index] = Outcome{Result: p.res, JSON: p.doc}
	}
	return nil
}
