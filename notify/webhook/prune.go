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
	// Steps is how many transactions it took: about the rows read (those
	// deleted, those kept among them) divided by the chunk, and one more
	// for each table.
	Steps int `json:"steps"`
}

// Prune deletes the delivery log older than before: the attempts made
// before it, and the deliveries settled before it (delivered, or failed:
// a failed delivery counts from the later of its failure and its
// deadline, and one failed before migration 0041 from its deadline). A pending delivery is kept whatever its age, and so is every
// notification: a redelivery of one whose delivery was pruned writes its
// delivery anew. Each table is read in id order, the order its rows were
// written in, from the oldest, a chunk at a time, until a chunk holds no
// row written before the cutoff (an attempt's time, a delivery's
// creation): a row stamped late by another server's clock, or kept
// because it is pending, does not stop it. Each chunk commits on its own:
// safe to interrupt, to run again, and to run on several servers at once.
// What it reads is what it deletes, the rows kept among them, and one
// chunk more.
func (s *Service) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	out := Pruned{Before: before}
	var err error
	out.Attempts, err = s.pruneSteps(ctx, before, &out.Steps, `SELECT max(id), count(*), count(*) FILTER (WHERE at < $3)
FROM (SELECT id, at FROM webhook_attempts WHERE id > $1 ORDER BY id LIMIT $2) c`,
		`DELETE FROM webhook_attempts WHERE id > $1 AND id <= $2 AND at < $3`)
	if err != nil {
		return out, err
	}
	// Settled before the cutoff, a delivery's attempts are all older than
	// it, and were deleted above. A failed delivery counts from the later
	// of its failure and its deadline: a server of the release before
	// fails a delivery without a time, and may fail one again that a
	// newer server failed before (a redelivery of the release before
	// leaves its failed_at). The conditions are tested on the row the
	// DELETE locks, so a delivery made pending again meanwhile
	// (redelivered) is kept.
	out.Deliveries, err = s.pruneSteps(ctx, before, &out.Steps, `SELECT max(id), count(*), count(*) FILTER (WHERE created_at < $3)
FROM (SELECT id, created_at FROM webhook_deliveries WHERE id > $1 ORDER BY id LIMIT $2) c`,
		`DELETE FROM webhook_deliveries WHERE id > $1 AND id <= $2 AND status <> 'pending'
    AND CASE WHEN status = 'delivered' THEN delivered_at ELSE greatest(failed_at, deliver_by) END < $3`)
	return out, err
}

// pruneSteps runs the steps of one table's prune: span reads the next
// chunk after the cursor (its last id, its size, and how many of its rows
// were written before the cutoff), del deletes what is old in it.
func (s *Service) pruneSteps(ctx context.Context, before time.Time, steps *int, span, del string) (int64, error) {
	var (
		cursor, deleted int64
		done            bool
	)
	for !done {
		*steps++
		err := s.l.InTx(ctx, func(tx *ledger.Tx) error {
			var last *int64
			var n, old int
			if err := tx.QueryRow(ctx, span, cursor, pruneChunk, before).Scan(&last, &n, &old); err != nil {
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
			cursor, done = *last, old == 0 || n < pruneChunk
			return nil
		})
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}
