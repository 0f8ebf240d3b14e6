package prepaid

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// ReverseEntry reverses an entry by hand (POST /v1/entries/{id}/reversal),
// as ledger.Reverse does, asking an entry that moved a customer's prepaid
// money what a movement's reversal is asked (reverseMoney): a manual debit
// of principal or rebate is a charge to the books that came after it, and
// a manual credit a deposit. So its reversal is refused while a later
// movement of the customer, not reversed, was priced on what it left
// (withdrawn_since; rebate_drawn_since when the reversal gives money back),
// or, when it takes money back, while what it put on an account has been
// spent since (insufficient_funds): a manual debit of 50,000.00 made by
// mistake, a charge of 2,500.00 paid from rebate since the principal was
// gone, then the debit reversed, would leave 50,000.00 to withdraw and no
// rebate to claw back. The customers whose accounts the entry moved
// (money or points) are locked, in id order, as movements lock them, and
// the reversal is dated from then (ledger.Tx.Restamp). An entry that moves
// no customer's account is ledger.Reverse's alone.
//
// refuse, when not nil, is asked about the entry's kind once the key is
// known to be new and the entry found: the API refuses by it the kinds the
// service's own flows write and correct.
//
// Errors: as ledger.Reverse, refuse's, and fault.WithdrawnSince,
// fault.RebateDrawnSince.
func (s *Service) ReverseEntry(ctx context.Context, id int64, in ledger.ReversalInput, refuse func(kind string) error) (*ledger.Entry, bool, error) {
	if strings.TrimSpace(in.Reason) == "" {
		return s.ledger.Reverse(ctx, id, in) // its refusal, before the entry is looked for
	}
	// A key already recorded answers first, as ledger.Reverse's insert of
	// the key would: a retry is a replay, another request a conflict, even
	// about an entry that is missing, a reversal, or moves no customer's
	// money (the client's mistake is the key, whatever the entry).
	if e, replayed, err := s.replayReversal(ctx, id, in); replayed || err != nil {
		return e, replayed, err
	}
	orig, err := s.ledger.Entry(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if refuse != nil {
		if err := refuse(orig.Kind); err != nil {
			return nil, false, err
		}
	}
	// The customers whose accounts the entry moved, and what it moved on
	// each one's prepaid and rebate accounts.
	gave, took := map[string]bool{}, map[string]bool{}
	var customers []string
	for _, p := range orig.Postings {
		customer, ok := ledger.CustomerOf(p.Account)
		if !ok {
			continue
		}
		customers = append(customers, customer)
		if !(strings.HasSuffix(p.Account, ":prepaid") || strings.HasSuffix(p.Account, ":rebate")) {
			continue
		}
		if p.Amount.IsPositive() {
			gave[customer] = true
		} else {
			took[customer] = true
		}
	}
	if len(customers) == 0 || orig.ReversalOf != nil {
		return s.ledger.Reverse(ctx, id, in)
	}
	slices.Sort(customers)
	customers = slices.Compact(customers)

	var out *ledger.Entry
	err = s.ledger.InTx(ctx, func(tx *ledger.Tx) error {
		// Every write of a customer's points or money takes their lock
		// first, this one too. A reversal giving points back restores the
		// lots they were drawn from, which a redemption may spend at once:
		// had it not waited for the customer, a redemption holding their
		// lock since before this transaction began (dated then: Restamp)
		// could spend the points it gives back, dated after it. And a
		// reversal taking points or money is dated from when it holds them.
		if _, err := loyalty.LockCustomers(ctx, tx, customers); err != nil {
			return err
		}
		tx.Restamp()
		var reversal int64
		err := tx.QueryRow(ctx, `SELECT id FROM entries WHERE reversal_of = $1`, id).Scan(&reversal)
		switch {
		case err == nil:
			return fault.Errorf(fault.AlreadyReversed, "entry %d was reversed by entry %d", id, reversal)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		what := fmt.Sprintf("entry %d", id)
		for _, c := range customers {
			if !gave[c] && !took[c] {
				continue // no prepaid money of theirs moved
			}
			accounts := []string{ledger.CustomerAccount(c, "prepaid"), ledger.CustomerAccount(c, "rebate")}
			// The movements after the entry in the order of the balances:
			// those with an entry id past the last one before it (the
			// entry's own id was drawn before it waited for the rows).
			before, err := tx.LastBefore(ctx, id, accounts, []string{Deposit, Charge, Withdrawal})
			if err != nil {
				return err
			}
			if gave[c] {
				if err := refuseSpentSince(ctx, tx, c, what, id); err != nil {
					return err
				}
			}
			// Taking money back is a deposit's reversal; giving it back,
			// a charge's.
			kind := Deposit
			if took[c] {
				kind = Charge
			}
			if err := refusePricedSince(ctx, tx, kind, c, what, before); err != nil {
				return err
			}
		}
		out, err = tx.Reverse(ctx, id, in)
		return err
	})
	if err == nil {
		return out, false, nil
	}
	// A twin racing with the key, committed meanwhile: the entry is
	// reversed (the customers' lock held it back), or, with no customer
	// row to lock, the key was inserted first.
	if c := fault.CodeOf(err); c == fault.AlreadyReversed || c == fault.IdempotencyConflict {
		if e, replayed, rerr := s.replayReversal(ctx, id, in); replayed || rerr != nil {
			return e, replayed, rerr
		}
	}
	return nil, false, err
}

// PostEntry records a manual entry (POST /v1/entries), as ledger.Post
// does, once it holds the lock of every customer whose accounts it moves,
// in id order, as every write of a customer's points or money takes it:
// points it credits go into the customer's lots (into a shared lot
// available since an earlier credit), and a redemption holding the
// customer's lock since before this entry began, dated then
// (ledger.Tx.Restamp), would otherwise spend them, dated before them. An
// entry that moves no customer's account is ledger.Post's alone.
//
// Errors: as ledger.Post.
func (s *Service) PostEntry(ctx context.Context, in ledger.EntryInput) (*ledger.Entry, bool, error) {
	// Bad input is refused first, as ledger.Post refuses it: before the key
	// is looked up, and before any customer's lock is waited for.
	if err := ledger.Validate(in); err != nil {
		return nil, false, err
	}
	var customers []string
	for _, p := range in.Postings {
		if c, ok := ledger.CustomerOf(p.Account); ok {
			customers = append(customers, c)
		}
	}
	if len(customers) == 0 {
		return s.ledger.Post(ctx, in)
	}
	replay := func() (*ledger.Entry, bool, error) {
		if in.IdempotencyKey == "" {
			return nil, false, nil
		}
		return s.ledger.Replay(ctx, in.IdempotencyKey, in.RequestHash, in.EarlierHash)
	}
	if e, found, err := replay(); found || err != nil {
		return e, found, err
	}
	var out *ledger.Entry
	err := s.ledger.InTx(ctx, func(tx *ledger.Tx) (err error) {
		if _, err := loyalty.LockCustomers(ctx, tx, customers); err != nil {
			return err
		}
		out, err = tx.PostChecked(ctx, in)
		return err
	})
	if fault.CodeOf(err) == fault.IdempotencyConflict {
		// A twin with the key committed meanwhile: its entry, if the
		// request is the same.
		if e, found, rerr := replay(); found || rerr != nil {
			return e, found, rerr
		}
	}
	return out, false, err
}

// replayReversal answers the entry in.IdempotencyKey recorded when it is
// entry id's reversal (replayed), fault.IdempotencyConflict when it is
// another entry or the request differs, and nothing when the key is new
// (or none is given). A hand reversal asks it before anything else about
// the entry.
func (s *Service) replayReversal(ctx context.Context, id int64, in ledger.ReversalInput) (*ledger.Entry, bool, error) {
	if in.IdempotencyKey == "" {
		return nil, false, nil
	}
	e, found, err := s.ledger.Replay(ctx, in.IdempotencyKey, in.RequestHash, in.EarlierHash)
	switch {
	case err != nil || !found:
		return nil, false, err
	case e.ReversalOf == nil || *e.ReversalOf != id:
		return nil, false, fault.Errorf(fault.IdempotencyConflict, "this idempotency key was already used for a different request (entry %d)", e.ID)
	}
	return e, true, nil
}
