package loyalty

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// PreviewBatch answers what ProcessBatch would answer for the events now,
// and writes nothing: the events are recorded by the same code, in one
// transaction of their own (outside the event groups, in the passes the
// event queue makes of a batch that repeats an event, each in the order
// given, runs of shipments together as a group writes them, or, should
// that fail, every event alone in a savepoint) that is rolled back at the
// end (ledger.Preview). A preview consumes no event id: the same events
// sent for real afterwards are recorded, with the same figures unless
// something else changed the customer meanwhile. (The call spreads the
// batch's customers over the event writers: events of two customers that
// name the same shipment or event id race there, and the preview answers
// one order of that race.)
//
// Each outcome's Result has Preview set. A new event's entry_id is nil (the
// entry it would have was never committed), and so is a repeat's that
// replays it; an event id already recorded answers its recorded result
// (Replayed), with its real entry.
//
// Errors (per outcome): those of ProcessBatch; a failure of the preview's
// transaction itself is every outcome's.
func (s *Service) PreviewBatch(ctx context.Context, key ledger.APIKey, actor string, events []Event) []Outcome {
	out, jobs, at := s.newJobs(key, actor, events)
	if len(jobs) == 0 {
		return out
	}
	outs := make([]Outcome, len(jobs))
	keys, err := s.previewKeys(ctx, jobs)
	if err == nil {
		err = s.previewGrouped(ctx, keys, jobs, outs)
	}
	if err != nil && keys != nil && ctx.Err() == nil {
		// As a group written for real falls back (processGroup): every
		// event alone, each in a savepoint.
		err = s.ledger.Preview(ctx, keys, func(tx *ledger.Tx) error {
			return s.previewPasses(ctx, tx, jobs, outs, false)
		})
	}
	here := map[eventKey]bool{} // the events this preview recorded: their entries never commit
	for n, o := range outs {
		switch {
		case err != nil:
			o = Outcome{Err: err}
		case o.Err == nil:
			k := eventKey{jobs[n].space, jobs[n].ev.EventID}
			if !o.Replayed {
				here[k] = true
			}
			if here[k] { // recorded here, or a repeat replaying what was
				o.Result.EntryID = nil
			}
			o.Result.Preview, o.JSON = true, nil
		}
		out[at[n]] = o
	}
	return out
}

// previewGrouped is the preview with its runs of shipments completed
// together, as the event groups write them: a batch's customers stay
// locked for as long as the same batch written for real would hold them,
// where every event alone in a savepoint held them several times longer
// (1,000 events: 7 to 8 s against 0.8). A panic in it is an error, so that
// the preview falls back to every event alone.
//
// The event queue never puts a repeated event (its space and event id) in
// its original's group: it defers the repeat alone to the next group
// (coalesce.Config.Apart). The preview writes the batch in the same passes
// (previewPasses), the first occurrence of each event, then the second, and
// so on, each in the batch's order.
func (s *Service) previewGrouped(ctx context.Context, keys []string, jobs []job, outs []Outcome) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loyalty: the grouped preview panicked: %v", r)
		}
	}()
	return s.ledger.Preview(ctx, keys, func(tx *ledger.Tx) error {
		return s.previewPasses(ctx, tx, jobs, outs, true)
	})
}

// previewPasses writes jobs in tx in the event queue's passes (passesOf),
// grouped or every event alone, each job's outcome into outs by index.
// With more than one pass, the batch's customers and their referrers are
// locked at once first, and the passes take no lock of their own: a
// customer created since is not the preview's.
func (s *Service) previewPasses(ctx context.Context, tx *ledger.Tx, jobs []job, outs []Outcome, grouped bool) error {
	clear(outs)
	passes := passesOf(jobs)
	if len(passes) == 1 {
		return s.groupTx(ctx, tx, jobs, outs, grouped)
	}
	var b pgx.Batch
	locked := map[string]Customer{}
	queueLock(&b, jobs, locked)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	for _, pass := range passes {
		group, got := make([]job, len(pass)), make([]Outcome, len(pass))
		for i, n := range pass {
			group[i] = jobs[n]
		}
		if err := s.groupTxLocked(ctx, tx, group, got, grouped, locked); err != nil {
			return err
		}
		for i, n := range pass {
			outs[n] = got[i]
		}
	}
	return nil
}

// passesOf is the indexes of jobs by pass: pass k holds each event's k-th
// occurrence in the batch, in the batch's order.
func passesOf(jobs []job) [][]int {
	seen := map[eventKey]int{}
	var passes [][]int
	for n, j := range jobs {
		k := eventKey{j.space, j.ev.EventID}
		pass := seen[k]
		seen[k] = pass + 1
		if pass == len(passes) {
			passes = append(passes, nil)
		}
		passes[pass] = append(passes[pass], n)
	}
	return passes
}

// PreviewKey is the key (ledger.Preview) of a preview that locks the
// customer id: previews of one customer take their turns.
func PreviewKey(id string) string { return "customer:" + id }

// previewKeys are the keys of a preview of jobs: their customers' and
// their referrers' (the group locks both: qLockGroup), as they are before
// the preview begins.
func (s *Service) previewKeys(ctx context.Context, jobs []job) ([]string, error) {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ev.CustomerID
	}
	rows, err := s.db.Query(ctx, `SELECT referred_by FROM customers WHERE id = ANY($1) AND referred_by IS NOT NULL`, ids)
	if err != nil {
		return nil, err
	}
	referrers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(ids)+len(referrers))
	for _, id := range append(ids, referrers...) {
		keys = append(keys, PreviewKey(id))
	}
	return keys, nil
}
