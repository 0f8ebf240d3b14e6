package ledger

import (
	"context"
	"encoding/json"
	"strings"
)

// ReversalInput asks for an entry to be reversed.
type ReversalInput struct {
	IdempotencyKey string
	RequestHash    []byte
	Actor          string
	Reason         string
}

// Reverse records a new entry with the opposite postings of entry id that
// references it. An entry is reversed at most once, and a reversal is not
// itself reversible (post a new entry instead).
//
// Errors: CodeNotFound, CodeInvalid (no reason), CodeNotReversible,
// CodeAlreadyReversed, CodeInsufficientFunds (the money or points have been
// spent since), CodeIdempotencyConflict.
func (l *Ledger) Reverse(ctx context.Context, id int64, in ReversalInput) (*Entry, bool, error) {
	if strings.TrimSpace(in.Reason) == "" {
		return nil, false, &Error{Code: CodeInvalid, Message: "a reversal needs a reason",
			Fields: map[string]string{"reason": "required"}}
	}
	orig, err := l.Entry(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if orig.ReversalOf != nil {
		return nil, false, Errorf(CodeNotReversible, "entry %d is a reversal of entry %d and cannot be reversed", id, *orig.ReversalOf)
	}
	postings := make([]PostingInput, len(orig.Postings))
	for i, p := range orig.Postings {
		postings[i] = PostingInput{Account: p.Account, Amount: p.Amount.Neg()}
	}
	meta, _ := json.Marshal(map[string]any{"reversed_kind": orig.Kind})
	return l.Post(ctx, EntryInput{
		Kind:           "reversal",
		IdempotencyKey: in.IdempotencyKey,
		RequestHash:    in.RequestHash,
		Metadata:       meta,
		Actor:          in.Actor,
		Reason:         in.Reason,
		Postings:       postings,
		reversalOf:     &id,
	})
}
