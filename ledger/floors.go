package ledger

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
)

// QPostedAfter is BalancesSince's statement, and QueuePostedAfter's: for
// each account ($1, by its place in the array), what its postings dated
// after its instant in $2 moved, instant by instant, oldest first
// (postings_account_effective, from the instant on: the lateral subquery
// keeps the instant in the index condition on a generic plan, where a join
// on the account alone read every posting the account ever had and
// filtered them).
const QPostedAfter = `SELECT u.ord, p.effective_at, sum(p.amount)
FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS u (code, since, ord)
CROSS JOIN LATERAL (SELECT id FROM accounts WHERE code = u.code OFFSET 0) a
CROSS JOIN LATERAL (SELECT effective_at, amount FROM postings
    WHERE account_id = a.id AND effective_at > u.since OFFSET 0) p
GROUP BY u.ord, p.effective_at
ORDER BY u.ord, p.effective_at`

// Dated is an account's balance as of an instant, or what the postings
// dated at an instant moved.
type Dated struct {
	At      time.Time
	Balance decimal.Decimal
}

// BalancesSince answers, for each account (codes, whose balances the
// transaction holds now are held, in the same order), its balances by date
// from at on (HistorySince). Postings may be dated in the past
// (back-dated business) or a little ahead, so an account's history by date
// differs from the order it was written in: a debit dated at may take no
// more than the least of these, or the account would stand below zero as
// of some instant since, though not now.
//
// Lock the accounts' balances first (LockBalances): the postings read are
// then all that can move them until the transaction ends.
func (tx *Tx) BalancesSince(ctx context.Context, at time.Time, codes []string, held []decimal.Decimal) ([][]Dated, error) {
	var moved [][]Dated
	var b pgx.Batch
	sinces := make([]time.Time, len(codes))
	for i := range sinces {
		sinces[i] = at
	}
	QueuePostedAfter(&b, &moved, codes, sinces)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	history := make([][]Dated, len(codes))
	for i := range codes {
		history[i] = HistorySince(at, held[i], moved[i])
	}
	return history, nil
}

// QueuePostedAfter queues into b a read of what each account's postings
// dated after its instant in sinces moved (codes and sinces in the same
// order), instant by instant, oldest first, into moved once b's results
// are read: what HistorySince needs of the account for any instant from
// its since on. Lock the accounts' balances first (LockBalances).
func QueuePostedAfter(b *pgx.Batch, moved *[][]Dated, codes []string, sinces []time.Time) {
	b.Queue(QPostedAfter, codes, sinces).Query(func(rows pgx.Rows) error {
		*moved = make([][]Dated, len(codes))
		var (
			ord int
			d   Dated
		)
		_, err := pgx.ForEachRow(rows, []any{&ord, &d.At, &d.Balance}, func() error {
			(*moved)[ord-1] = append((*moved)[ord-1], d)
			return nil
		})
		return err
	})
}

// HistorySince is an account's balances by date from at on, its balance
// now held and moved what its postings dated after some instant up to at
// moved, instant by instant, oldest first (QueuePostedAfter): as of at
// (held less what was dated after at), then as of each later instant, the
// last held. With nothing dated after at, its one balance is held, as of
// at.
func HistorySince(at time.Time, held decimal.Decimal, moved []Dated) []Dated {
	k, _ := slices.BinarySearchFunc(moved, at, func(d Dated, at time.Time) int {
		if d.At.After(at) {
			return 1
		}
		return -1
	})
	moved = moved[k:] // those dated after at
	balance := held
	for _, m := range moved {
		balance = balance.Sub(m.Balance) // as of at, once every later instant is taken off
	}
	history := append(make([]Dated, 0, len(moved)+1), Dated{At: at, Balance: balance})
	for _, m := range moved {
		balance = balance.Add(m.Balance)
		history = append(history, Dated{At: m.At, Balance: balance})
	}
	return history
}

// qDatedFloors is checkDatedFloors' statement: for each account ($1, by
// its place in the array), the least balance it shows as of $2 or any
// later instant a posting to it is dated at. The balance as of $2 is the
// balance now less what the postings dated after $2 moved; each later
// instant adds what was dated up to it (the running sum, ties together).
// Non-negative accounts have one balance row, bucket 0.
const qDatedFloors = `SELECT u.ord, b.balance - coalesce(sum(x.amount), 0) + least(0, coalesce(min(x.running), 0))
FROM unnest($1::text[]) WITH ORDINALITY AS u (code, ord)
JOIN accounts a ON a.code = u.code
JOIN balance_buckets b ON b.account_id = a.id AND b.bucket = 0
LEFT JOIN LATERAL (SELECT p.amount, sum(p.amount) OVER (ORDER BY p.effective_at) AS running
    FROM postings p WHERE p.account_id = a.id AND p.effective_at > $2) x ON true
GROUP BY u.ord, b.balance
ORDER BY u.ord`

// flooredDebits are the accounts that may not go below zero among those
// the postings debit.
func flooredDebits(postings []PostingInput) []string {
	var codes []string
	for _, p := range postings {
		if spec, err := Chart(p.Account); err == nil && !spec.AllowNegative && p.Amount.IsNegative() {
			codes = append(codes, p.Account)
		}
	}
	return codes
}

// checkDatedFloors refuses, once an entry effective at at has been
// posted in q's transaction, a debit of codes (flooredDebits) that leaves
// an account below zero as of at or any later instant a posting to it is
// dated at, though not now: an entry dated back before money or points
// came in (or a debit effective now while a credit is dated a little
// ahead) would take what the account did not yet hold. The rows of the
// accounts' balances are locked by the entry's own update, so no posting
// to them can come between the entry and the check.
func checkDatedFloors(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, at time.Time, codes []string) error {
	if len(codes) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, qDatedFloors, codes, at)
	if err != nil {
		return err
	}
	var (
		ord   int
		least decimal.Decimal
		below = -1
	)
	if _, err := pgx.ForEachRow(rows, []any{&ord, &least}, func() error {
		if least.IsNegative() && below < 0 {
			below = ord - 1
		}
		return nil
	}); err != nil || below < 0 {
		return err
	}
	return &fault.Error{Code: fault.InsufficientFunds, Account: codes[below], Message: "account " + quote(codes[below]) +
		" did not hold enough from " + at.UTC().Format(time.RFC3339Nano) + " on to be debited then: " +
		"as of some instant since, it would stand below zero"}
}

// HeldFrom is the earliest instant from at on from which the account code
// held amount or more at every later instant (by date: BalancesSince), its
// balance now being held; the last instant a posting to it is dated at when
// none did (held is less than amount). Lock its balance first.
func (tx *Tx) HeldFrom(ctx context.Context, code string, at time.Time, held, amount decimal.Decimal) (time.Time, error) {
	history, err := tx.BalancesSince(ctx, at, []string{code}, []decimal.Decimal{held})
	if err != nil {
		return time.Time{}, err
	}
	h := history[0]
	from := h[len(h)-1].At
	least := h[len(h)-1].Balance
	for k := len(h) - 1; k >= 0; k-- {
		least = decimal.Min(least, h[k].Balance)
		if least.LessThan(amount) {
			break
		}
		from = h[k].At
	}
	return from, nil
}
