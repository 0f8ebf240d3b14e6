package webhook

import (
	"context"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// DefaultKeep is how long the delivery log is kept by default: the
// attempts, and the deliveries that are settled (delivered or failed).
const DefaultKeep = 30 * 24 * time.Hour

// pruneChunk is how many rows a step of Prune reads, and deletes at most,
// in a transaction of its own: each holds its rows' locks briefly, and an
// interrupted prune keeps what it deleted. A variable for the tests.
var pruneChunk = 5000

// Pruned is what a prune deleted.
type Pruned struct {
	Before     time.Time `json:"before"`
	Attempts   int64     `json:"attempts"`
	Deliveries int64     `json:"deliveries"`
	// Steps is how many transactions it took: a few more than the rows
	// deleted divided by the chunk, whatever is kept.
	Steps int `json:"steps"`
}

// Prune deletes the delivery log older than before: the attempts made
// before it, and the deliveries settled before it (delivered, or failed
// when their deadline passed). A pending delivery is kept whatever its
// age, and so is every notification: a redelivery of one whose delivery
// was pruned writes its delivery anew. The log's rows are read in id
// order, which is the order they were written in, from the oldest until
// the first one written at or after before (allowing for the clocks of
// several servers, the rows a step reads are each tested on their own
// time, so one written a little late is taken by the next prune). Each
// step commits on its own: safe to interrupt, to run again, and to run on
// several servers at once.
func (s *Service) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	out := Pruned{Before: before}
	var err error
	// The attempts: their time is when the send began.
	out.Attempts, err = s.pruneSteps(ctx, before, &out.Steps, `SELECT max(id), count(*), coalesce(bool_or(at >= $3), false)
FROM (SELECT id, at FROM webhook_attempts WHERE id > $1 ORDER BY id LIMIT $2) c`,
		`DELETE FROM webhook_attempts WHERE id > $1 AND id <= $2 AND at < $3`)
	if err != nil {
		return out, err
	}
	// The deliveries: settled before it, so created before it too. The
	// conditions are tested on the row the DELETE locks, so a delivery
	// made pending again meanwhile (redelivered) is kept.
	out.Deliveries, err = s.pruneSteps(ctx, before, &out.Steps, `SELECT max(id), count(*), coalesce(bool_or(created_at >= $3), false)
FROM (SELECT id, created_at FROM webhook_deliveries WHERE id > $1 ORDER BY id LIMIT $2) c`,
		`DELETE FROM webhook_deliveries WHERE id > $1 AND id <= $2 AND status <> 'pending'
    AND coalesce(delivered_at, deliver_by) < $3`)
	return out, err
}

// pruneSteps runs the steps of one table's prune: span reads the next
// chunk after the cursor (its last id, its size, and whether it reached
// rows written at or after before), del deletes what is old in it.
func (s *Service) pruneSteps(ctx context.Context, before time.Time, steps *int, span, del string) (int64, error) {
	var (
		cursor, deleted int64
		done            bool
	)
	for !done {
		*steps++
		err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
			var last *int64
			var n int
			var reached bool
			if err := tx.QueryRow(ctx, span, cursor, pruneChunk, before).Scan(&last, &n, &reached); err != nil {
				return err
			}
			if last == nil {
				done = true
				return nil
			}
			tag, err := tx.Exec(ctx, del, cursor, *last, before)
			if err != nil {
				return err
			}
			deleted += tag.RowsAffected()
			cursor, done = *last, reached || n < pruneChunk
			return nil
		})
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}
