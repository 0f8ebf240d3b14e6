package loyalty

import (
	"context"

	"github.com/tally-ledger/tally/ledger"
)

// PreviewBatch answers what ProcessBatch would answer for the events now,
// and writes nothing: the events are recorded by the same code, in one
// transaction of their own (outside the event groups, every event alone
// in a savepoint, in the order given) that is rolled back at the end
// (ledger.Preview). A preview consumes no event id: the same events sent
// for real afterwards are recorded, with the same figures unless something
// else changed the customer meanwhile.
//
// Each outcome's Result has Preview set. A new event's entry_id is nil (the
// entry it would have was never committed); an event id already recorded
// answers its recorded result (Replayed), with its real entry.
//
// Errors (per outcome): those of ProcessBatch; a failure of the preview's
// transaction itself is every outcome's.
func (s *Service) PreviewBatch(ctx context.Context, key ledger.APIKey, actor string, events []Event) []Outcome {
	out, jobs, at := s.newJobs(key, actor, events)
	if len(jobs) == 0 {
		return out
	}
	outs := make([]Outcome, len(jobs))
	err := s.ledger.Preview(ctx, func(tx *ledger.Tx) error {
		clear(outs)
		return s.groupTx(ctx, tx, jobs, outs, false)
	})
	for n, o := range outs {
		switch {
		case err != nil:
			o = Outcome{Err: err}
		case o.Err == nil:
			if !o.Replayed {
				o.Result.EntryID = nil
			}
			o.Result.Preview, o.JSON = true, nil
		}
		out[at[n]] = o
	}
	return out
}
