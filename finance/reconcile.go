package finance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// Reconcile checks every invariant in one snapshot: the ledger's (entries
// balance, balances match postings, points match lots, no customer below
// zero, ...), every deposit's rebate against the rules that priced it
// (rebates_match_rules), the event rows against what they name
// (event_rows_intact), and the points owed by refunds against the books
// (owed_within_due; owed_not_negative is the ledger's). A run that finds a
// failure announces it (reconciliation.failed), once per distinct failure:
// the same checks failing on the same ids are not announced again.
func (s *Service) Reconcile(ctx context.Context) (ledger.Reconciliation, error) {
	r, err := s.ledger.Reconcile(ctx, s.money.RebateCheck, s.customers.ReferenceCheck, s.customers.OwedCheck)
	if err != nil || r.Pass {
		return r, err
	}
	return r, s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		_, err := notify.Emit(ctx, tx, ReconciliationFailedEvent(r))
		return err
	})
}

// FailedCheck is one failed check in a reconciliation.failed notice.
type FailedCheck struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	// Offending are the ids that break it (at most 100).
	Offending []string `json:"offending"`
}

// ReconciliationFailedNotice is the payload of reconciliation.failed.
type ReconciliationFailedNotice struct {
	Failed []FailedCheck `json:"failed"`
}

// ReconciliationFailedEvent is the notice of a failed reconciliation: each
// failed check's name, what it requires, and the ids that break it. Its
// once_key is the failure's fingerprint.
func ReconciliationFailedEvent(r ledger.Reconciliation) notify.Event {
	n := ReconciliationFailedNotice{Failed: []FailedCheck{}}
	for _, c := range r.Checks {
		if c.Pass {
			continue
		}
		n.Failed = append(n.Failed, FailedCheck{Name: c.Name,
			Message:   c.Description,
			Offending: c.Offending})
	}
	fingerprint, _ := json.Marshal(n.Failed)
	sum := sha256.Sum256(fingerprint)
	return notify.Event{Type: notify.ReconciliationFailed, Payload: n,
		OnceKey: notify.ReconciliationFailed + ":" + hex.EncodeToString(sum[:16])}
}
