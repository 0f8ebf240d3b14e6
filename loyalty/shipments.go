package loyalty

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/decsum"
	"github.com/tally-ledger/tally/internal/dectext"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Completing shipments. There is one way: a loader reads the state a run of
// shipment.completed events needs into a shipmentState, price prices each
// shipment of the run in order against it (and brings it up to date), and
// writeShipments writes every row of the run, one statement per table,
// whatever its length. Two loaders feed them: the group loader
// (queueRunReads, queueReferralReads) reads the state of a whole run of a
// group by arrays, in round trips the group makes anyway; the single-event
// loader (loadShipment) reads one event's state by its own keys, for an
// event recorded alone. They read the same things, so an event priced alone
// and the same event priced in a group get the same answer.

// shipmentState is what a run of shipments reads before it is priced, and
// keeps up to date as they are priced one by one, in order.
type shipmentState struct {
	rulesets  []rules.RuleSet // by position in the run
	entryIDs  []int64         // reserved, one per shipment at most
	referrals bool            // the referral state has been read
	stored    map[eventKey]storedEvent
	months    map[customerMonth]decimal.Decimal
	campaigns []rules.Campaign // those whose window meets the run's span
	shipped   map[string]bool  // shipment ids already completed
	qualified map[string]bool  // referees with a bonus recorded
	paid      map[customerMonth]int
	owing     map[string]bool // customers who owe points (owed.go)
}

type customerMonth struct {
	customer string
	month    rules.Month
}

func newShipmentState(n int) *shipmentState {
	return &shipmentState{rulesets: make([]rules.RuleSet, n), stored: map[eventKey]storedEvent{},
		months: map[customerMonth]decimal.Decimal{}, shipped: map[string]bool{}, qualified: map[string]bool{},
		paid: map[customerMonth]int{}, owing: map[string]bool{}}
}

// completeShipments prices the run's shipments in order against st, the
// state loaded for them, and writes those the rules accept. It returns each
// one's outcome by index: a replay, a refusal (which writes nothing), or
// what was recorded. An error means the run could not be written. When
// notes is not nil, what the recorded shipments announce is added to it,
// and queued with the run's writes when queue is set (writeShipments).
func (s *Service) completeShipments(ctx context.Context, tx *ledger.Tx, run []job, custs map[string]Customer,
	st *shipmentState, notes *groupNotices, queue bool) ([]Outcome, error) {
	outs := make([]Outcome, len(run))
	priced := make([]*pricedShipment, 0, len(run))
	now := tx.Now()
	rs, err := s.rulesAt(ctx, tx, now)
	if err != nil {
		return nil, err
	}
	earliest, periods := rs.EarliestOccurredAt(now), newPeriodGuard(&rs, now)
	for n, j := range run {
		if stored, ok := st.stored[eventKey{j.space, j.ev.EventID}]; ok {
			outs[n] = replayOf(j, stored)
			continue
		}
		if outs[n].Err = tooOld("occurred_at", j.ev.OccurredAt, earliest); outs[n].Err != nil {
			continue
		}
		if err := periods.check(ctx, tx, j.ev.OccurredAt, st.rulesets[n].MonthOf(j.ev.OccurredAt)); err != nil {
			if fault.CodeOf(err) != fault.PeriodClosed {
				return nil, err
			}
			outs[n].Err = err
			continue
		}
		p, err := st.price(j, custs, st.rulesets[n])
		if err != nil {
			outs[n].Err = err
			continue
		}
		p.index = n
		priced = append(priced, p)
	}
	// The group's last writes commit it, unless debts are settled after them.
	commit := queue && len(st.owing) == 0
	if err := s.writeShipments(ctx, tx, run, priced, st.entryIDs, outs, notes, queue, commit); err != nil {
		return outs, err
	}
	return outs, settleRun(ctx, tx, run, priced, st.owing)
}

// settleRun settles what the run's customers owe from the points the run
// credited them, customer by customer in id order.
func settleRun(ctx context.Context, tx *ledger.Tx, run []job, priced []*pricedShipment, owing map[string]bool) error {
	if len(owing) == 0 {
		return nil
	}
	actors := map[string]string{}
	var ids []string
	for _, p := range priced {
		j := run[p.index]
		if _, seen := actors[j.ev.CustomerID]; !seen && owing[j.ev.CustomerID] && p.earning.Points > 0 {
			actors[j.ev.CustomerID] = j.actor
			ids = append(ids, j.ev.CustomerID)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if _, err := SettleOwed(ctx, tx, id, actors[id]); err != nil {
			return err
		}
	}
	return nil
}

// queueRunReads is the group loader's first half: it queues the reads of
// what a run of shipments needs (the recorded events, the months'
// contributions, the campaigns, the shipments already completed) and
// entry ids for them. The referral state needs the customers, locked
// first: queueReferralReads.
//
// The statements look rows up one by one through LATERAL subqueries (see
// queueLock).
func (s *Service) queueRunReads(ctx context.Context, tx *ledger.Tx, b *pgx.Batch, run []job) (*shipmentState, error) {
	st := newShipmentState(len(run))
	var (
		spaces, eventIDs    []string
		shipmentIDs         []string
		customerIDs         []string
		mCustomers, mMonths []string
		from, until         time.Time
	)
	for n, j := range run {
		ev := j.ev
		rs, err := s.rulesAt(ctx, tx, ev.OccurredAt)
		if err != nil {
			return nil, err
		}
		st.rulesets[n] = rs
		spaces, eventIDs, shipmentIDs = append(spaces, j.space), append(eventIDs, ev.EventID), append(shipmentIDs, ev.ShipmentID)
		customerIDs = append(customerIDs, ev.CustomerID)
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
	b.Queue(`SELECT u.space, u.event_id, e.request_hash, e.result
FROM unnest($1::text[], $2::text[]) AS u (space, event_id)
CROSS JOIN LATERAL (SELECT request_hash, result FROM events WHERE space = u.space AND event_id = u.event_id OFFSET 0) e`,
		spaces, eventIDs).Query(func(rows pgx.Rows) error {
		var k eventKey
		var se storedEvent
		_, err := pgx.ForEachRow(rows, []any{&k.space, &k.eventID, &se.hash, &se.result}, func() error {
			st.stored[k] = storedEvent{hash: slices.Clone(se.hash), result: slices.Clone(se.result)}
			return nil
		})
		return err
	})
	// Each customer and month once, named by its first place in the
	// arrays (ord, from 1): the strings are the group's own, not new ones
	// scanned from every row, and the contribution comes as text, which
	// decimal reads without numeric's round trip through big.Int text.
	b.Queue(`SELECT u.ord, m.contribution::text
FROM (SELECT min(ord) AS ord, customer_id, month FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u (customer_id, month, ord)
      GROUP BY customer_id, month) AS u
CROSS JOIN LATERAL (SELECT contribution FROM customer_months WHERE customer_id = u.customer_id AND month = u.month OFFSET 0) m`,
		mCustomers, mMonths).Query(func(rows pgx.Rows) error {
		var ord int64
		var amount string
		_, err := pgx.ForEachRow(rows, []any{&ord, &amount}, func() error {
			if ord < 1 || ord > int64(len(mCustomers)) {
				return fmt.Errorf("months read: place %d of %d", ord, len(mCustomers))
			}
			d, err := decimal.NewFromString(amount)
			if err != nil {
				return fmt.Errorf("months read: contribution %q: %w", amount, err)
			}
			st.months[customerMonth{mCustomers[ord-1], rules.Month(mMonths[ord-1])}] = d
			return nil
		})
		return err
	})
	queueCampaigns(b, from, until, &st.campaigns)
	queueExisting(b, `SELECT 1 FROM shipments WHERE shipment_id = u.id`, shipmentIDs, st.shipped)
	queueExisting(b, qOwing, customerIDs, st.owing)
	ledger.QueueEntryIDs(b, len(run), &st.entryIDs)
	return st, nil
}

// queueReferralReads is the group loader's second half: it queues, once per
// run and only if a customer of the run was referred, the reads of the
// referral state: which referees already have a bonus, and how many bonuses
// their referrers were paid in the months of the run.
func (st *shipmentState) queueReferralReads(b *pgx.Batch, run []job, custs map[string]Customer) {
	if st.referrals {
		return
	}
	st.referrals = true
	var referees, referrers, refMonths []string
	for n, j := range run {
		ev := j.ev
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

// qOwing finds, for queueExisting, the customers who owe points.
const qOwing = `SELECT 1 FROM points_owed WHERE customer_id = u.id AND settled < owed LIMIT 1`

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

// queueCampaigns queues the read of the campaigns whose window meets
// [from, until], in the order they are weighed: more than apply to any one
// shipment in it. Which of them applies to a shipment is the rules'
// decision alone (rules.Campaign.Applies, in rules.EarnShipment).
func queueCampaigns(b *pgx.Batch, from, until time.Time, into *[]rules.Campaign) {
	b.Queue(`SELECT id, starts_at, ends_at, multiplier, coalesce(segments, '{}') FROM campaigns
WHERE starts_at <= $2 AND ends_at > $1 ORDER BY starts_at, id`, from, until).Query(func(rows pgx.Rows) error {
		var c rules.Campaign
		_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.StartsAt, &c.EndsAt, &c.Multiplier, &c.Segments}, func() error {
			camp := c
			if len(camp.Segments) == 0 {
				camp.Segments = nil
			}
			*into = append(*into, camp)
			return nil
		})
		return err
	})
}

// loadShipment is the single-event loader: it reads what pricing one
// shipment needs, as the group loader does for a run, by the event's own
// keys and in one round trip. The customer and their referrer are locked
// already (the group's lock, queueLock, found them in custs).
func (s *Service) loadShipment(ctx context.Context, tx *ledger.Tx, j job, custs map[string]Customer) (*shipmentState, error) {
	ev := j.ev
	rs, err := s.rulesAt(ctx, tx, ev.OccurredAt)
	if err != nil {
		return nil, err
	}
	st := newShipmentState(1)
	st.rulesets[0], st.referrals = rs, true
	this := rs.MonthOf(ev.OccurredAt)
	var b pgx.Batch
	queueStoredEvent(&b, j, st.stored)
	b.Queue(`SELECT month, contribution FROM customer_months WHERE customer_id = $1 AND month IN ($2, $3)`,
		ev.CustomerID, string(this), string(this.Prev())).Query(func(rows pgx.Rows) error {
		var month rules.Month
		var amount decimal.Decimal
		_, err := pgx.ForEachRow(rows, []any{&month, &amount}, func() error {
			st.months[customerMonth{ev.CustomerID, month}] = amount
			return nil
		})
		return err
	})
	queueCampaigns(&b, ev.OccurredAt, ev.OccurredAt, &st.campaigns)
	b.Queue(`SELECT EXISTS (SELECT 1 FROM shipments WHERE shipment_id = $1)`, ev.ShipmentID).QueryRow(func(row pgx.Row) error {
		var shipped bool
		err := row.Scan(&shipped)
		st.shipped[ev.ShipmentID] = shipped
		return err
	})
	queueExisting(&b, qOwing, []string{ev.CustomerID}, st.owing)
	if c, ok := custs[ev.CustomerID]; ok && c.ReferredBy != nil {
		b.Queue(`SELECT EXISTS (SELECT 1 FROM referral_bonuses WHERE referee_id = $1)`, c.ID).QueryRow(func(row pgx.Row) error {
			var qualified bool
			err := row.Scan(&qualified)
			st.qualified[c.ID] = qualified
			return err
		})
		referrer := customerMonth{*c.ReferredBy, this}
		b.Queue(`SELECT count(*) FROM referral_bonuses WHERE referrer_id = $1 AND month = $2 AND status = 'paid'`,
			referrer.customer, string(this)).QueryRow(func(row pgx.Row) error {
			var paid int
			err := row.Scan(&paid)
			st.paid[referrer] = paid
			return err
		})
	}
	ledger.QueueEntryIDs(&b, 1, &st.entryIDs)
	return st, tx.SendBatch(ctx, &b).Close()
}

// pricedShipment is a shipment priced by the rules, waiting to be written.
type pricedShipment struct {
	index    int // in the run
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
	status      string // paid or capped (recorded, not paid)
	points      int64
	availableAt time.Time
}

// price prices one shipment against the state so far, and brings the state
// up to date with it: the one place a shipment is priced. The customer's
// tier is the higher of last month's contribution and this month's so far;
// the earning weighs the campaigns loaded; a referee's shipment may earn
// their referrer a bonus. Errors: fault.UnknownCustomer,
// fault.DuplicateShipment.
func (st *shipmentState) price(j job, custs map[string]Customer, rs rules.RuleSet) (*pricedShipment, error) {
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
	p := &pricedShipment{rs: rs, month: this.month, res: resultOf(ev, rs)}
	postings := make(postingSet, 0, 5) // the customer, volume, campaign, a referrer, referral

	tier, _ := rs.TierInEffect(st.months[last], st.months[this])
	p.earning = rs.EarnShipment(amount, tier, ev.OccurredAt, st.campaigns)
	expires := rs.ExpiresAt(ev.OccurredAt)
	postings.credit(ev.CustomerID, "volume", p.earning.Volume, ev.OccurredAt, expires)
	postings.credit(ev.CustomerID, "campaign", p.earning.CampaignPoints, ev.OccurredAt, expires)
	p.res.Tier, p.res.Earning, p.res.Points = &tier, &p.earning, p.earning.Points
	contribution := st.months[this].Add(amount)
	p.res.Contribution = &Change{Month: this.month, Before: money.Of(st.months[this]), After: money.Of(contribution)}

	if cust.ReferredBy != nil {
		referrer := customerMonth{*cust.ReferredBy, this.month}
		outcome, points, availableAt := rs.ReferralFor(amount, ev.OccurredAt, rules.ReferralState{HasReferrer: true,
			AlreadyQualified: st.qualified[cust.ID], PaidThisMonth: st.paid[referrer]})
		if outcome != rules.ReferralNone {
			p.referral = &referralRow{referrer: referrer.customer, status: "paid", points: points, availableAt: availableAt}
			if outcome == rules.ReferralCapped {
				p.referral.status = "capped"
			} else {
				st.paid[referrer]++
			}
			st.qualified[cust.ID] = true
			postings.credit(referrer.customer, "referral", points, availableAt, expires)
			p.res.Referral = &Referral{ReferrerID: referrer.customer, Status: string(outcome), Points: points, AvailableAt: availableAt}
		}
	}
	st.shipped[ev.ShipmentID] = true
	st.months[this] = contribution
	if after, _ := rs.TierInEffect(st.months[last], st.months[this]); after.Level > tier.Level {
		p.res.raised = &after
	}
	if len(postings) > 0 {
		version := rs.Version
		p.entry = &ledger.EntryInput{Kind: ev.Type, EffectiveAt: ev.OccurredAt, Metadata: entryMetadata(ev, p.res),
			Actor: j.actor, Postings: postings, RuleVersion: &version}
	}
	return p, nil
}

// monthRow is what a group's shipments add to a customer's month.
type monthRow struct {
	contribution decsum.Sum
	shipments    int32
}

// writeShipments records the priced shipments of the run: their entries,
// events (which hold the shipments), months and referral bonuses, each table in one
// statement, and sets their outcomes. When notes is not nil, what they
// announce is added to it, and when queue is set too, every notice of
// notes is queued with those statements: no round trip of their own. When
// commit is set, those statements are the transaction's last, and its
// COMMIT goes with them (ledger.Tx.PostManyAndCommit).
func (s *Service) writeShipments(ctx context.Context, tx *ledger.Tx, run []job, priced []*pricedShipment, entryIDs []int64,
	outs []Outcome, notes *groupNotices, queue, commit bool) error {
	if len(priced) == 0 {
		return nil
	}
	post := tx.PostMany
	if commit {
		post = tx.PostManyAndCommit
	}
	var entries []ledger.EntryInput
	for _, p := range priced {
		if p.entry != nil {
			entries = append(entries, *p.entry)
		}
	}
	err := post(ctx, entries, entryIDs, func(ids []int64, b *pgx.Batch) error {
		var (
			ships shipmentRows

			months = map[customerMonth]monthRow{}
			order  []customerMonth

			refReferees, refReferrers, refShipments, refMonths, refStatus []string
			refPoints                                                     []int64
			refAvailable                                                  []time.Time
			refEntries                                                    []int64

			events eventRows
		)
		n := 0
		for _, p := range priced {
			j := run[p.index]
			ev := j.ev
			if p.entry != nil {
				id := ids[n]
				n++
				p.res.EntryID = &id
			}
			ships.add(ev, p)
			cm := customerMonth{ev.CustomerID, p.month}
			m, ok := months[cm]
			if !ok {
				order = append(order, cm)
			}
			m.contribution.Add(*ev.Amount)
			m.shipments++
			months[cm] = m
			if r := p.referral; r != nil {
				var entry int64 // a paid bonus's is the shipment's entry
				if r.status == "paid" && p.res.EntryID != nil {
					entry = *p.res.EntryID
				}
				refReferees, refReferrers, refShipments = append(refReferees, ev.CustomerID), append(refReferrers, r.referrer), append(refShipments, ev.ShipmentID)
				refMonths, refStatus, refPoints = append(refMonths, string(p.month)), append(refStatus, r.status), append(refPoints, r.points)
				refAvailable, refEntries = append(refAvailable, r.availableAt), append(refEntries, entry)
			}
			p.doc = encodeResult(p.res)
			events.add(j, p.doc, p.res.EntryID)
		}
		slices.SortFunc(order, func(a, b customerMonth) int {
			return cmp.Or(strings.Compare(a.customer, b.customer), strings.Compare(string(a.month), string(b.month)))
		})
		mCusts, mMonths := make([]string, len(order)), make([]string, len(order))
		mAmounts, mCounts := make([]string, len(order)), make([]int32, len(order))
		for i, cm := range order {
			mCusts[i], mMonths[i], mAmounts[i], mCounts[i] = cm.customer, string(cm.month), dectext.String(months[cm].contribution.Decimal()), months[cm].shipments
		}
		b.Queue(`INSERT INTO customer_months (customer_id, month, contribution, shipments)
SELECT u.customer, u.month, u.amount::numeric, u.n FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) AS u (customer, month, amount, n)
ON CONFLICT (customer_id, month) DO UPDATE SET contribution = customer_months.contribution + excluded.contribution,
    shipments = customer_months.shipments + excluded.shipments`, mCusts, mMonths, mAmounts, mCounts)
		// A shipment or event recorded by a concurrent transaction since the
		// run was loaded fails the run: the events are then loaded again, and
		// find it. Before the bonuses, whose shipments are in these rows.
		ships.queue(b, &events, tx.Now())
		if len(refReferees) > 0 {
			b.Queue(`INSERT INTO referral_bonuses (referee_id, referrer_id, shipment_id, month, status, points, available_at, entry_id)
SELECT u.referee, u.referrer, u.shipment, u.month, u.status, u.points, u.available_at, nullif(u.entry, 0)
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[], $8::bigint[])
    AS u (referee, referrer, shipment, month, status, points, available_at, entry)`,
				refReferees, refReferrers, refShipments, refMonths, refStatus, refPoints, refAvailable, refEntries)
		}
		if notes != nil {
			for _, p := range priced {
				notes.add(Outcome{Result: p.res})
			}
			if queue {
				return notes.queue(b, tx.Now())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range priced {
		outs[p.index] = Outcome{Result: p.res, JSON: p.doc}
	}
	return nil
}

// shipmentRows are the shipments of a run's event rows (one each, in the
// same order), as arrays for the events' one statement.
type shipmentRows struct {
	ids, amounts, months []string // amounts as text: no reflection to encode
	at                   []time.Time
	volume, campaign     []int64
	versions             []int32
}

func (r *shipmentRows) add(ev Event, p *pricedShipment) {
	r.ids, r.amounts, r.months = append(r.ids, ev.ShipmentID), append(r.amounts, dectext.String(*ev.Amount)), append(r.months, string(p.month))
	r.at, r.versions = append(r.at, ev.OccurredAt), append(r.versions, int32(p.rs.Version))
	r.volume, r.campaign = append(r.volume, p.earning.Volume), append(r.campaign, p.earning.CampaignPoints)
}

// queue queues the insert of the event rows with their shipments, recorded
// at now. No ON CONFLICT, as eventRows.queue.
func (r *shipmentRows) queue(b *pgx.Batch, ev *eventRows, now time.Time) {
	b.Queue(`INSERT INTO events (key_id, space, event_id, type, customer_id, request_hash, result, entry_id, created_at,
    shipment_id, amount, refunded, occurred_at, month, points_volume, points_campaign, points_reversed, points_dropped,
    points_owed, rule_version)
SELECT u.key_id, u.space, u.event_id, u.type, u.customer, u.hash, u.result, nullif(u.entry, 0), $9::timestamptz,
    u.shipment, u.amount::numeric, 0, u.at, u.month, u.volume, u.campaign, 0, 0, 0, u.version
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::json[], $8::bigint[],
    $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::bigint[], $15::bigint[], $16::integer[])
    AS u (key_id, space, event_id, type, customer, hash, result, entry, shipment, amount, at, month, volume, campaign, version)`,
		ev.keys, ev.spaces, ev.ids, ev.types, ev.customers, ev.hashes, ev.results, ev.entries, now,
		r.ids, r.amounts, r.at, r.months, r.volume, r.campaign, r.versions)
}
