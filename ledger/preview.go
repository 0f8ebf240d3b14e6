package ledger

import (
	"context"
	"errors"
)

// errPreview ends a preview's transaction: InTx rolls back on any error.
var errPreview = errors.New("ledger: a preview is rolled back")

// Preview runs fn exactly as InTx does (same isolation, same locks, same
// retries) and then rolls the transaction back instead of committing it:
// the answer fn computed is what the same work would do now, and nothing
// it wrote remains (entries, balances, the callers' own rows, notifications,
// idempotency keys). Sequence numbers fn drew (entry ids) are not returned
// to their sequences: a preview must not answer them as ids. fn's own
// error is returned as InTx would return it.
func (l *Ledger) Preview(ctx context.Context, fn func(tx *Tx) error) error {
	err := l.InTx(ctx, func(tx *Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errPreview
	})
	if errors.Is(err, errPreview) {
		return nil
	}
	return err
}
