package prepaid

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/internal/dectext"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify"
)

// How movements are grouped: up to groupWriters transactions at once, each
// of at most groupMaxJobs movements. groupTimeout bounds a group's
// transaction, whatever its callers' contexts: one caller giving up must
// not abort its neighbours. One writer: a group is written in a fixed
// number of statements, so fewer, larger groups cost less CPU than more
// groups at once (make bench's scenario 4 on two cores, groups written
// together: 1 writer 2,197 and 1,921 requests/s, 876 µs of CPU a request
// at most; 2 writers 1,944 and 1,898, 935 µs at least).
const (
	groupWriters = 1
	groupMaxJobs = 500
	groupTimeout = 60 * time.Second
)

// newMovementQueue is the group commit of money movements: the movements
// of one customer go to one writer, in the order they were made.
func (s *Service) newMovementQueue() *coalesce.Coalescer[moneyJob, moneyResult] {
	return coalesce.New(coalesce.Config[moneyJob, moneyResult]{
		Writers: groupWriters, MaxGroup: groupMaxJobs,
		Key: func(j moneyJob) string { return j.in.CustomerID },
		Run: s.moveGroup,
	})
}

// Stats counts what the group commit did since the service started.
type Stats struct {
	// Fallbacks counts the groups written movement by movement (moveEach)
	// because they could not be written together (moveTogether).
	Fallbacks atomic.Int64
}

// Stats is the group commit's counts.
func (s *Service) Stats() *Stats { return &s.stats }

// moveGroup records a group of movements in one transaction and answers
// each one's result, by index. A group of known customers, new movements
// and retries of recorded ones, is written together, in a fixed number of
// round trips (moveTogether), a charge or withdrawal dated before
// something on its customer's accounts included (datedFrom); a group with a
// new movement and its retry in it, an unknown customer, or one whose
// write together fails, movement by movement (moveEach).
func (s *Service) moveGroup(group []moneyJob) ([]moneyResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	g := &together{s: s, group: group}
	return loyalty.WriteTogether(ctx, s.ledger, group, func(j moneyJob) string { return j.in.CustomerID }, &s.stats.Fallbacks,
		g.queueReads,
		func(tx *ledger.Tx, locked map[string]bool) ([]moneyResult, error) { return g.write(ctx, tx, locked) },
		func() ([]moneyResult, error) { return s.moveEach(ctx, group) })
}

// moveEach records a group of movements in one transaction
// (loyalty.WriteGroup), each as it would be recorded alone (moveTx), in a
// savepoint: a refusal (insufficient funds, a reused id) undoes only its
// own movement. The balances of every known customer of the group are
// opened and locked first, all at once in code order (ledger.Tx.LockBalances,
// the order a manual entry takes them in): locked movement by movement, in
// the group's order, a movement could wait for an opening or a balance
// while an earlier one held a balance the other transaction wants next.
func (s *Service) moveEach(ctx context.Context, group []moneyJob) ([]moneyResult, error) {
	return loyalty.WriteGroup(ctx, s.ledger, group, func(j moneyJob) string { return j.in.CustomerID },
		func(tx *ledger.Tx, locked map[string]bool) error {
			codes := make([]string, 0, 2*len(locked))
			for id, ok := range locked {
				if ok {
					codes = append(codes, ledger.CustomerAccount(id, "prepaid"), ledger.CustomerAccount(id, "rebate"))
				}
			}
			if len(codes) == 0 {
				return nil
			}
			_, err := tx.LockBalances(ctx, codes...)
			return err
		},
		func(tx *ledger.Tx, j moneyJob, locked bool) (moneyResult, error) { return s.moveTx(ctx, tx, j, locked) },
		func(err error) moneyResult { return moneyResult{err: err} })
}

// errNotTogether is moveTogether declining a group that moveEach must
// write: one with a new movement and its retry, or an unknown customer.
var errNotTogether = errors.New("prepaid: the group cannot be written together")

// movementID names a movement: ids are unique per space and kind.
type movementID struct{ space, kind, id string }

// together records a group of movements as moveTx records each one, in
// order, with the same answers, entries, rows and notices, entry ids
// included, but in three round trips whatever the group's size. The first
// locks the customers (loyalty.WriteTogether) and, with them locked, runs
// queueReads' reads: the movements recorded already under the group's ids,
// every partner's low-balance threshold, the customers' balances, and
// what was dated on the accounts of customers with a charge or a withdrawal
// in the group after the earliest of those (nearly always nothing)
// (locked until the group commits: a writer that takes no customer's lock,
// a manual entry, cannot move them between the pricing and the postings).
// write then prices each new movement in Go from the balances the
// movements before it left, reserves the entries' ids (as many as it
// writes: a refusal or a retry leaves no gap), and sends the entries
// (PostManyAndCommit), the movements and the notices with the COMMIT. A
// movement the rules refuse is answered its refusal and writes nothing of
// its own (the lock may have opened its customer's accounts, empty: see
// ledger.Tx.LockBalances). A retry of a movement recorded earlier is
// answered as a replay (or, sent with other details, refused), as moveTx
// answers it, and the rest of the group is still written together. write
// answers errNotTogether, having written nothing, when a customer is
// unknown or a new movement's id is twice in the group. A charge or a
// withdrawal is dated as moveTx dates it (datedFrom), from what is dated
// on its customer's accounts and the group's movements before it.
type together struct {
	s     *Service
	group []moneyJob

	// What queueReads reads, once its round trip's results are read.
	seen       map[movementID]int // how many times each id is in the group
	earlier    map[movementID]recorded
	thresholds []LowBalanceThreshold
	customers  []string          // the group's, sorted, each once
	balances   []decimal.Decimal // each customer's principal, then rebate
	since      map[string]int    // a customer with a debit in the group: its place in sinces
	sinces     []time.Time       // the earliest date of each such customer's debits
	moved      [][]ledger.Dated  // what was dated after it on their principal, then rebate
}

// recorded is a movement recorded earlier, with its request's hash.
type recorded struct {
	m    MoneyMovement
	hash []byte
}

// queueReads queues the group's reads into b, after the customers' locks.
// It starts afresh each time: a transaction retried reads again.
func (g *together) queueReads(tx *ledger.Tx, b *pgx.Batch) error {
	g.seen = make(map[movementID]int, len(g.group))
	g.earlier = map[movementID]recorded{}
	g.thresholds, g.customers, g.balances = nil, nil, nil
	g.since, g.sinces, g.moved = map[string]int{}, nil, nil
	var spaces, kinds, ids, dated []string
	for _, j := range g.group {
		key := movementID{j.in.Space, j.kind, j.in.ID}
		if g.seen[key]++; g.seen[key] == 1 {
			spaces, kinds, ids = append(spaces, key.space), append(kinds, key.kind), append(ids, key.id)
		}
		g.customers = append(g.customers, j.in.CustomerID)
		if j.kind == Deposit {
			continue
		}
		at := dateOf(tx, j.in)
		if k, ok := g.since[j.in.CustomerID]; !ok {
			g.since[j.in.CustomerID] = len(g.sinces)
			g.sinces = append(g.sinces, at)
			dated = append(dated, ledger.CustomerAccount(j.in.CustomerID, "prepaid"), ledger.CustomerAccount(j.in.CustomerID, "rebate"))
		} else if at.Before(g.sinces[k]) {
			g.sinces[k] = at
		}
	}
	slices.Sort(g.customers)
	g.customers = slices.Compact(g.customers)
	b.Queue(qRecordedMovements, spaces, kinds, ids).Query(func(rows pgx.Rows) error {
		var r recorded
		_, err := pgx.ForEachRow(rows, append([]any{&r.hash}, movementFields(&r.m)...), func() error {
			r.hash = slices.Clone(r.hash) // the next row scans into the same variable
			g.earlier[movementID{r.m.Space, r.m.Kind, r.m.ID}] = r
			return nil
		})
		return err
	})
	b.Queue(`SELECT partner_id, threshold FROM low_balance_thresholds WHERE threshold > 0 ORDER BY partner_id`).
		Query(func(rows pgx.Rows) error {
			var t LowBalanceThreshold
			_, err := pgx.ForEachRow(rows, []any{&t.PartnerID, &t.Threshold}, func() error {
				g.thresholds = append(g.thresholds, t)
				return nil
			})
			return err
		})
	codes := make([]string, 0, 2*len(g.customers))
	for _, c := range g.customers {
		codes = append(codes, ledger.CustomerAccount(c, "prepaid"), ledger.CustomerAccount(c, "rebate"))
	}
	if err := tx.QueueLockBalances(b, &g.balances, codes...); err != nil {
		return err
	}
	if len(dated) > 0 {
		sinces := make([]time.Time, 0, len(dated))
		for _, at := range g.sinces {
			sinces = append(sinces, at, at)
		}
		ledger.QueuePostedAfter(b, &g.moved, dated, sinces)
	}
	return nil
}

// dateOf is the date of the movement in: its occurred_at, or the
// transaction's now.
func dateOf(tx *ledger.Tx, in MoneyInput) time.Time {
	if in.OccurredAt.IsZero() {
		return tx.Now().UTC().Truncate(time.Microsecond)
	}
	return in.OccurredAt
}

// write prices and writes the group, its customers locked (locked says
// which exist) and its reads answered.
func (g *together) write(ctx context.Context, tx *ledger.Tx, locked map[string]bool) ([]moneyResult, error) {
	group := g.group
	for _, j := range group {
		if !locked[j.in.CustomerID] {
			return nil, errNotTogether
		}
	}
	for key, n := range g.seen {
		if _, ok := g.earlier[key]; n > 1 && !ok {
			return nil, errNotTogether // a new movement and its retry
		}
	}
	type held struct {
		principal, rebate decimal.Decimal
		// For a customer with a debit in the group: what is dated on their
		// principal and rebate after the earliest of those, the group's
		// movements before included, instant by instant.
		moved [][]ledger.Dated
	}
	holds := make(map[string]held, len(g.customers))
	for i, c := range g.customers {
		h := held{principal: g.balances[2*i], rebate: g.balances[2*i+1]}
		if k, ok := g.since[c]; ok {
			h.moved = [][]ledger.Dated{g.moved[2*k], g.moved[2*k+1]}
		}
		holds[c] = h
	}

	// Each movement priced as moveTx prices it, against the balances the
	// movements before it leave.
	type written struct {
		at     int // the job's index
		m      MoneyMovement
		before decimal.Decimal // principal + rebate before it
	}
	outs := make([]moneyResult, len(group))
	var (
		entries []ledger.EntryInput
		moves   []written
	)
	for i, j := range group {
		in := j.in
		if r, ok := g.earlier[movementID{in.Space, j.kind, in.ID}]; ok {
			// A retry: answered as moveTx answers it, with the balances
			// as the movements before it in the group leave them.
			if string(r.hash) != string(j.hash[:]) {
				outs[i].err = idConflict(j.kind, in.ID)
				continue
			}
			h := holds[r.m.CustomerID]
			r.m.Principal, r.m.RebateBalance = money.Of(h.principal), money.Of(h.rebate)
			outs[i] = moneyResult{m: r.m, replayed: true}
			continue
		}
		at := dateOf(tx, in)
		h := holds[in.CustomerID]
		m, postings, err := g.s.price(ctx, tx, j, at, h.principal, h.rebate)
		var refusal *fault.Error
		if errors.As(err, &refusal) {
			outs[i].err = err
			continue
		}
		if err != nil {
			return nil, err
		}
		effective := at
		if _, debits := moneyDebits(in.CustomerID, postings); debits != nil {
			// Dated as moveTx dates it (fundedFrom), from the balances by
			// date the movements before it leave.
			if effective, err = datedFrom(&m, debits, []decimal.Decimal{h.principal, h.rebate}, h.moved); err != nil {
				outs[i].err = err
				continue
			}
		}
		meta, _ := json.Marshal(map[string]any{j.kind + "_id": in.ID, "customer_id": in.CustomerID, "rate": m.Rate,
			"shipment_id": m.ShipmentID})
		version := m.RuleVersion
		entries = append(entries, ledger.EntryInput{Kind: j.kind, EffectiveAt: effective, Actor: j.actor, Metadata: meta,
			Postings: postings, RuleVersion: &version})
		principal, rebate := balancesAfter(in.CustomerID, h.principal, h.rebate, postings)
		m.Principal, m.RebateBalance = money.Of(principal), money.Of(rebate)
		if k, ok := g.since[in.CustomerID]; ok && effective.After(g.sinces[k]) {
			// Dated after the earliest debit of its customer: later debits
			// may find it in their history.
			h.moved = [][]ledger.Dated{
				datedAdd(h.moved[0], effective, m.Principal.Sub(h.principal)),
				datedAdd(h.moved[1], effective, m.RebateBalance.Sub(h.rebate))}
		}
		holds[in.CustomerID] = held{m.Principal.Decimal, m.RebateBalance.Decimal, h.moved}
		moves = append(moves, written{at: i, m: m, before: h.principal.Add(h.rebate)})
	}
	if len(entries) == 0 {
		return outs, nil
	}

	// The entries' ids, then the entries, the movements and their notices,
	// and the COMMIT, in one round trip: nothing runs in the transaction
	// after it.
	err := tx.PostManyAndCommit(ctx, entries, nil, func(entryIDs []int64, b *pgx.Batch) error {
		var rows movementRows
		var tell []notify.Event
		for k := range moves {
			w := &moves[k]
			w.m.EntryID = entryIDs[k]
			rows.add(&w.m, group[w.at].hash[:], tx.Now())
			tell = append(tell, notices(w.m)...)
			tell = lowBalanceNotices(tell, g.thresholds, &w.m, w.m.EntryID, w.before, w.m.Principal.Decimal, w.m.RebateBalance.Decimal)
		}
		rows.queue(b)
		return notify.Queue(b, tx.Now(), tell...)
	})
	if err != nil {
		return nil, err
	}
	for _, w := range moves {
		w.m.OccurredAt = w.m.OccurredAt.Local() // as a movement read back is (pgx reads in time.Local)
		outs[w.at].m = w.m
	}
	return outs, nil
}

// datedAdd is moved (an account's postings dated after some instant,
// instant by instant, oldest first) with amount more dated at. It changes
// moved in place: a group's reads (together.moved) are read afresh for
// each attempt, and are the group's own.
func datedAdd(moved []ledger.Dated, at time.Time, amount decimal.Decimal) []ledger.Dated {
	if amount.IsZero() {
		return moved
	}
	k, found := slices.BinarySearchFunc(moved, at, func(d ledger.Dated, at time.Time) int { return d.At.Compare(at) })
	if found {
		moved[k].Balance = moved[k].Balance.Add(amount)
		return moved
	}
	return slices.Insert(moved, k, ledger.Dated{At: at, Balance: amount})
}

// qRecordedMovements reads the movements recorded under the ids of a
// group ($1, $2, $3: their spaces, kinds and ids), each with its request's
// hash first, then the columns of qMoneyMovement: one index probe an id.
const qRecordedMovements = `SELECT m.request_hash, m.kind, m.space, m.id, m.customer_id, m.amount, m.occurred_at, m.shipment_id,
    m.rule_version, m.rate, m.rebate, m.from_principal, m.from_rebate, m.clawback, m.entry_id, m.reversal_entry_id
FROM unnest($1::text[], $2::text[], $3::text[]) AS u (space, kind, id)
CROSS JOIN LATERAL (SELECT * FROM money_movements m WHERE m.space = u.space AND m.kind = u.kind AND m.id = u.id OFFSET 0) m`

// movementRows are money_movements rows to insert, column by column.
type movementRows struct {
	kinds, ids, customers, amounts, spaces             []string
	shipments, rates, rebates, principals, fromRebates []*string
	clawbacks                                          []*string
	occurred, created                                  []time.Time
	versions                                           []int32
	hashes                                             [][]byte
	entries                                            []int64
}

// add adds the row of m (its entry known), requested with hash, recorded at now.
func (r *movementRows) add(m *MoneyMovement, hash []byte, now time.Time) {
	text := func(d *decimal.Decimal) *string {
		if d == nil {
			return nil
		}
		s := dectext.String(*d)
		return &s
	}
	cny := func(c *money.CNY) *string {
		if c == nil {
			return nil
		}
		return text(&c.Decimal)
	}
	r.kinds, r.ids, r.customers, r.amounts, r.spaces = append(r.kinds, m.Kind), append(r.ids, m.ID),
		append(r.customers, m.CustomerID), append(r.amounts, dectext.String(m.Amount.Decimal)), append(r.spaces, m.Space)
	r.shipments, r.rates, r.rebates = append(r.shipments, m.ShipmentID), append(r.rates, text(m.Rate)), append(r.rebates, cny(m.Rebate))
	r.principals, r.fromRebates, r.clawbacks = append(r.principals, cny(m.FromPrincipal)), append(r.fromRebates, cny(m.FromRebate)),
		append(r.clawbacks, cny(m.Clawback))
	r.occurred, r.created = append(r.occurred, m.OccurredAt), append(r.created, now)
	r.versions, r.hashes, r.entries = append(r.versions, int32(m.RuleVersion)), append(r.hashes, hash), append(r.entries, m.EntryID)
}

// queue queues the insert of the rows into b, in one statement.
func (r *movementRows) queue(b *pgx.Batch) {
	b.Queue(`INSERT INTO money_movements (kind, id, customer_id, amount, occurred_at, shipment_id,
    rate, rebate, from_principal, from_rebate, clawback, rule_version, request_hash, entry_id, created_at, space)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::timestamptz[], $6::text[],
    $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[], $12::integer[], $13::bytea[], $14::bigint[],
    $15::timestamptz[], $16::text[])`, r.kinds, r.ids, r.customers, r.amounts, r.occurred, r.shipments,
		r.rates, r.rebates, r.principals, r.fromRebates, r.clawbacks, r.versions, r.hashes, r.entries, r.created, r.spaces)
}
