package loyalty

import (
	"context"

	"github.com/tally-ledger/tally/ledger"
)

// ProcessEventByEvent is ProcessBatch written as the path a group falls
// back to when its grouped write fails: the events in one group, in order,
// each alone in a savepoint, a shipment loaded by the single-event loader.
// It is the reference the group loader is checked against.
func (s *Service) ProcessEventByEvent(ctx context.Context, key ledger.APIKey, actor string, events []Event) []Outcome {
	out, jobs, at := s.newJobs(key, actor, events)
	if len(jobs) == 0 {
		return out
	}
	outs, err := s.writeGroup(ctx, jobs, false)
	for n := range jobs {
		if err != nil {
			out[at[n]].Err = err
			continue
		}
		out[at[n]] = outs[n]
	}
	return out
}

// SetGroupedFault makes f run as the group loader completes each run of
// shipments (nil: nothing runs).
func (s *Service) SetGroupedFault(f func()) { s.groupedFault = f }

// SetNoticeMarkRead makes f run as each notice job has read its mark (nil:
// nothing runs).
func (s *Service) SetNoticeMarkRead(f func(job string)) { s.noticeMarkRead = f }

// QLockGroup is the statement a group of events locks its customers and
// their referrers with.
const QLockGroup = qLockGroup

// ValidEventID is Validate's check of an event id, for the test that holds
// it to its regular expression.
func ValidEventID(id string) bool { return validEventID(id) }
