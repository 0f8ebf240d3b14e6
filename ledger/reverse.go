package ledger

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// ReversalInput asks for an entry to be reversed.
type ReversalInput struct {
	IdempotencyKey string
	RequestHash    []byte
	// EarlierHash is as EntryInput's.
	EarlierHash []byte
	Actor       string
	Reason      string
	// Kind names the reversal entry; "reversal" when empty.
	Kind string
	// Metadata adds keys to the reversal's metadata, beside reversed_kind.
	Metadata map[string]any
}

// ReversedKind is the key of a reversal's metadata that names the kind of
// the entry it reversed: reports count the reversal in that kind. Only
// Reverse writes it.
const ReversedKind = "reversed_kind"

// Reverse records a new entry with the opposite postings of entry id that
// references it. An entry is reversed at most once, and a reversal is not
// itself reversible (post a new entry instead). Points move back exactly:
// a reversed credit takes back its points from the lot they went into (its
// own, or the shared lot its posting names), a reversed debit returns its
// points to the lots they came from, with their expiry.
//
// Errors: fault.NotFound, fault.Invalid (no reason), fault.NotReversible,
// fault.AlreadyReversed, fault.InsufficientFunds (the money has been spent
// since, or the credit's lot holds fewer points than it gave),
// fault.IdempotencyConflict.
func (l *Ledger) Reverse(ctx context.Context, id int64, in ReversalInput) (*Entry, bool, error) {
	if err := checkReason(in); err != nil {
		return nil, false, err
	}
	orig, err := l.Entry(ctx, id)
	if err != nil {
		return nil, false, err
	}
	rev, err := reversalOf(orig, in, l.Now())
	if err != nil {
		return nil, false, err
	}
	return l.Post(ctx, rev)
}

// Reverse is Ledger.Reverse inside the transaction (without replays).
func (tx *Tx) Reverse(ctx context.Context, id int64, in ReversalInput) (*Entry, error) {
	if err := checkReason(in); err != nil {
		return nil, err
	}
	orig, err := tx.l.entry(ctx, tx.Tx, id)
	if err != nil {
		return nil, err
	}
	rev, err := reversalOf(orig, in, tx.Now())
	if err != nil {
		return nil, err
	}
	// Effective now (or with the entry it reverses), it takes nothing an
	// account holds only from a later instant (a credit dated ahead).
	return tx.PostChecked(ctx, rev)
}

func checkReason(in ReversalInput) error {
	if strings.TrimSpace(in.Reason) == "" {
		return &fault.Error{Code: fault.Invalid, Message: "a reversal needs a reason", Fields: map[string]string{"reason": "required"}}
	}
	return nil
}

// reversalOf is the entry that reverses orig, effective now, or when orig
// takes effect if that is later (an entry dated ahead, within the clock
// skew): a reversal effective before the entry it takes back would leave
// its accounts below zero as of the instants between.
func reversalOf(orig *Entry, in ReversalInput, now time.Time) (EntryInput, error) {
	if orig.ReversalOf != nil {
		return EntryInput{}, fault.Errorf(fault.NotReversible, "entry %d is a reversal of entry %d and cannot be reversed", orig.ID, *orig.ReversalOf)
	}
	postings := make([]PostingInput, len(orig.Postings))
	for i, p := range orig.Postings {
		postings[i] = PostingInput{Account: p.Account, Amount: p.Amount.Neg()}
		if spec, _ := Chart(p.Account); spec.hasLots() {
			if p.Amount.IsPositive() {
				postings[i].DrawFrom = orig.ID
			} else {
				postings[i].RestoreOf = orig.ID
			}
		}
	}
	kind := in.Kind
	if kind == "" {
		kind = "reversal"
	}
	m := map[string]any{ReversedKind: orig.Kind}
	for k, v := range in.Metadata {
		if k != ReversedKind {
			m[k] = v
		}
	}
	meta, _ := json.Marshal(m)
	id := orig.ID
	var effective time.Time // now, as Post dates an entry that says nothing
	if orig.EffectiveAt.After(now) {
		effective = orig.EffectiveAt
	}
	return EntryInput{
		Kind:           kind,
		EffectiveAt:    effective,
		IdempotencyKey: in.IdempotencyKey,
		RequestHash:    in.RequestHash,
		EarlierHash:    in.EarlierHash,
		Metadata:       meta,
		Actor:          in.Actor,
		Reason:         in.Reason,
		Postings:       postings,
		reversalOf:     &id,
	}, nil
}
