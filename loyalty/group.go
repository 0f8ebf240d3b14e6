package loyalty

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// DefaultEventWriters is how many groups of events are written at once,
// each for its own share of the customers, unless WithEventWriters says
// otherwise.
const DefaultEventWriters = 2

// How events are grouped: each group at most groupMaxEvents events (unless
// one submission, a batch, has more). A writer holds a group back for reads
// in flight for groupMaxYield at most. groupTimeout bounds a group's
// transaction, whatever its callers' contexts: one caller giving up must
// not abort its neighbours.
const (
	groupMaxEvents = 1000
	groupMaxYield  = 2 * time.Millisecond
	groupTimeout   = 60 * time.Second
)

// newEventQueue is the group commit of partner events: the events of one
// customer go to one writer, in order, and a retry never shares a group
// with its original.
func (s *Service) newEventQueue() *coalesce.Coalescer[job, Outcome] {
	return coalesce.New(coalesce.Config[job, Outcome]{
		Writers: s.eventWriters, MaxGroup: groupMaxEvents, MaxYield: groupMaxYield,
		Key:   func(j job) string { return j.ev.CustomerID },
		Apart: func(j job) string { return j.space + " " + j.ev.EventID },
		Run:   s.processGroup,
	})
}

// Reading tells the event writers that a read is in flight, until done is
// called: they hold back new groups for a moment, so that reads (a customer
// checking a balance) are answered first on a busy machine.
func (s *Service) Reading() (done func()) { return s.events.Reading() }

// processGroup writes a group of events in one transaction and returns
// each one's outcome. Runs of shipments are loaded by the group loader, in
// the round trips the group makes anyway; should anything in that fail,
// the group is written again with every event alone, each in a savepoint
// and loaded by its own keys (Stats().Fallbacks counts these). Only a
// failure of that transaction itself fails every event of the group.
func (s *Service) processGroup(group []job) ([]Outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	outs, err := s.writeGroupRecovered(ctx, group)
	if err != nil && ctx.Err() == nil {
		s.stats.Fallbacks.Add(1)
		// A deadline of its own: the first attempt may have used most of
		// its time. (Should that attempt's commit have succeeded despite
		// its error, the events are found recorded and answered as replays.)
		ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
		defer cancel()
		outs, err = s.writeGroup(ctx, group, false)
	}
	if err == nil {
		s.stats.Groups.Add(1)
		s.stats.GroupedEvents.Add(int64(len(group)))
	}
	return outs, err
}

// writeGroupRecovered is the grouped attempt, with a panic in it (a bug in
// the group loader, say) turned into an error, so that the group falls back
// to writing every event alone instead of failing all of them. A panic on
// that fallback, the path a single event takes, still fails the group.
func (s *Service) writeGroupRecovered(ctx context.Context, group []job) (outs []Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, fmt.Errorf("loyalty: the grouped write panicked: %v", r)
		}
	}()
	return s.writeGroup(ctx, group, true)
}

// writeGroup writes the group in one transaction, its runs of shipments
// together when grouped is set, every event alone otherwise, and returns
// each job's outcome by index.
func (s *Service) writeGroup(ctx context.Context, group []job, grouped bool) ([]Outcome, error) {
	outs := make([]Outcome, len(group))
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		clear(outs)
		return s.groupTx(ctx, tx, group, outs, grouped)
	})
	return outs, err
}

// groupTx records the group in tx. It first locks every customer the group
// touches and their referrers, in id order, so that concurrent groups never
// wait for each other in a cycle. Then, in order, runs of shipment.completed
// events are completed together when grouped is set, and every other event
// is recorded alone in a savepoint. What the recorded events announce is
// written last, in one statement (with the last run's writes when the group
// ends with one).
func (s *Service) groupTx(ctx context.Context, tx *ledger.Tx, group []job, outs []Outcome, grouped bool) error {
	return s.groupTxLocked(ctx, tx, group, outs, grouped, nil)
}

// groupTxLocked is groupTx with the customers locked already (locked, from
// queueLock) when not nil: it takes no lock of its own.
func (s *Service) groupTxLocked(ctx context.Context, tx *ledger.Tx, group []job, outs []Outcome, grouped bool, locked map[string]Customer) error {
	// The leading run of shipments reads its state in the lock's round trip.
	first := 0
	for grouped && first < len(group) && group[first].ev.Type == ShipmentCompleted {
		first++
	}
	var (
		b     pgx.Batch
		st    *shipmentState
		custs = map[string]Customer{}
		notes groupNotices
		err   error
	)
	if locked == nil {
		queueLock(&b, group, custs)
	} else {
		maps.Copy(custs, locked)
	}
	if first > 0 {
		if st, err = s.queueRunReads(ctx, tx, &b, group[:first]); err != nil {
			return err
		}
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
	}
	// The customers are locked: what the group writes is dated from now,
	// so a refund's settlement of owed points never spends, by date,
	// points a cancellation gave back while the group waited for a lock
	// (ledger.Tx.Restamp).
	tx.Restamp()
	var run []int
	for i := range first {
		run = append(run, i)
	}
	// flush completes the run so far; the last one of the group queues
	// the group's notices into its writes.
	flush := func(last bool) error {
		if len(run) == 0 {
			return nil
		}
		if s.groupedFault != nil {
			s.groupedFault()
		}
		err := s.completeRun(ctx, tx, group, run, custs, st, outs, &notes, last)
		run, st = nil, nil
		return err
	}
	for i := first; i < len(group); i++ {
		if grouped && group[i].ev.Type == ShipmentCompleted {
			run = append(run, i)
			continue
		}
		if err := flush(false); err != nil {
			return err
		}
		if err := s.processAlone(ctx, tx, group[i], custs, &outs[i]); err != nil {
			return err
		}
		notes.add(outs[i])
	}
	if err := flush(true); err != nil {
		return err
	}
	return notes.write(ctx, tx)
}

// completeRun completes a run of shipments of the group (indexes into it)
// with a fixed number of statements: the group loader reads all the state
// they need (st, when the caller has read it already) in one round trip,
// and writeShipments writes every table once. What the run announces is
// added to notes, and when last is set the group's notices are queued with
// the run's writes.
func (s *Service) completeRun(ctx context.Context, tx *ledger.Tx, group []job, run []int, custs map[string]Customer,
	st *shipmentState, outs []Outcome, notes *groupNotices, last bool) error {
	jobs := make([]job, len(run))
	for n, i := range run {
		jobs[n] = group[i]
	}
	var b pgx.Batch
	if st == nil {
		var err error
		if st, err = s.queueRunReads(ctx, tx, &b, jobs); err != nil {
			return err
		}
	}
	st.queueReferralReads(&b, jobs, custs)
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
	}
	done, err := s.completeShipments(ctx, tx, jobs, custs, st, notes, last)
	if err != nil {
		return err
	}
	for n, i := range run {
		outs[i] = done[n]
	}
	return nil
}

// processAlone records one event in a savepoint: a refusal undoes only
// what it did. A transient failure (a deadlock) is returned, for the whole
// group to be retried. A unique violation means that a concurrent
// transaction recorded, after this event was loaded, a row it would have
// seen (its twin, or its shipment completed by another event): the event
// is loaded and recorded once more, and finds it.
func (s *Service) processAlone(ctx context.Context, tx *ledger.Tx, j job, custs map[string]Customer, out *Outcome) error {
	for attempt := 1; ; attempt++ {
		var o Outcome
		err := tx.Savepoint(ctx, func(tx *ledger.Tx) (err error) {
			o, err = s.processOne(ctx, tx, j, custs)
			return err
		})
		if err != nil && (fault.Transient(err) || ctx.Err() != nil) {
			return err
		}
		if attempt == 1 && fault.UniqueViolation(err, "") {
			continue
		}
		if err != nil {
			o = Outcome{Err: err}
		}
		*out = o
		return nil
	}
}

// processOne records one event in tx, or answers the recorded result of an
// earlier one with the same id; a refusal is its error. A shipment is
// completed as in a group, by the single-event loader, with a run of one.
func (s *Service) processOne(ctx context.Context, tx *ledger.Tx, j job, custs map[string]Customer) (Outcome, error) {
	if j.ev.Type != ShipmentCompleted {
		return s.processFollowUp(ctx, tx, j)
	}
	st, err := s.loadShipment(ctx, tx, j, custs)
	if err != nil {
		return Outcome{}, err
	}
	outs, err := s.completeShipments(ctx, tx, []job{j}, custs, st, nil, false)
	if err != nil {
		return Outcome{}, err
	}
	return outs[0], outs[0].Err
}

// queueLock queues the locking of the group's customers and their
// referrers, in id order, and fills custs with them (an unknown customer is
// absent). Id order is the bytes' (COLLATE "C"), whatever the database's
// collation: the order LockCustomers takes customers in for the groups of
// money movements and redemptions, so that no two groups wait in a cycle.
// Only the order is the bytes': the lookups compare in the column's own
// collation, or customers_pkey could not serve them (each lookup would
// scan the table).
//
// The group's statements look rows up one by one through LATERAL
// subqueries (OFFSET 0 keeps the planner from flattening them into a join):
// whatever a cached generic plan thinks of the arrays' lengths and the
// tables' sizes, each lookup is an index probe, never a scan of the table.
// So the group runs on generic plans, without planning each time.
func queueLock(b *pgx.Batch, group []job, custs map[string]Customer) {
	ids := make([]string, 0, len(group))
	for _, j := range group {
		ids = append(ids, j.ev.CustomerID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	b.Queue(ledger.QGenericPlans)
	b.Queue(qLockGroup, ids).
		Query(func(rows pgx.Rows) error {
			var c Customer
			_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.Name, &c.ReferredBy, &c.CreatedAt}, func() error {
				custs[c.ID] = c
				return nil
			})
			return err
		})
	queueNoticesFollow(b, ids, true)
}

// qLockGroup locks the customers $1 names and their referrers (queueLock).
const qLockGroup = `SELECT c.id, c.name, c.referred_by, c.created_at
FROM (SELECT id FROM (SELECT u.id FROM unnest($1::text[]) AS u (id)
                       UNION SELECT r.referred_by FROM unnest($1::text[]) AS u (id)
                             CROSS JOIN LATERAL (SELECT referred_by FROM customers WHERE id = u.id OFFSET 0) r) s
      ORDER BY id COLLATE "C") ids
CROSS JOIN LATERAL (SELECT id, name, referred_by, created_at FROM customers WHERE id = ids.id FOR NO KEY UPDATE) c`
