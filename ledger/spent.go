package ledger

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// QSpentSince is SpentSince's statement: a debit (any: the first found, so
// that a spent credit stops the scan there) posted after entry $1 on one
// of the accounts ($2) it credited, of an entry neither reversed nor
// itself a reversal, that left the account with less than entry $1 put on
// it, its balance then counted as if every credit reversed since had never
// been: the account's postings up to the debit of credits reversed, and of
// their reversals, are taken off it (a reversed debit is left counted, so
// that the question never answers less than it did before it counted
// them). Two deposits reversed in turn after a charge that took part of
// their money each left more than either put there, and less than both:
// the second reversal is refused, as the charge was priced on their money
// together (helper-148). A reversal's own debit is no debit spending the
// entry: it takes back what came after the entry, never what the entry put
// there, and counted so it would keep the entry from being reversed for
// good, since a reversal is never reversed. "After" is the posting's id,
// not its entry's: an account's postings are numbered in the order they
// changed its balance (each is inserted while its writer holds the balance
// row), while an entry id is drawn before (a manual entry draws it before
// it waits for the row, and may post after a later one).
//
// The account's postings are read once, from the entry's own on
// (postings_account_id_nonnegative), with a running sum of those no longer
// standing (later.gone_run); a credit posted before the entry and reversed
// after it is taken off from the start (base), and its reversal's debit,
// once passed, puts it back. Linear in what came after the entry, where
// summing what is no longer standing for each later debit was quadratic
// (helper-151: 49.5 s under the customer's lock for 12,000 reversed
// deposits and 24,000 later charges).
const QSpentSince = `WITH d AS MATERIALIZED (SELECT d.id, d.account_id, d.amount, a.code FROM postings d
    JOIN accounts a ON a.id = d.account_id
    WHERE d.entry_id = $1 AND a.code = ANY($2::text[]) AND d.amount > 0),
base AS (SELECT r.account_id, -sum(r.amount) AS gone FROM d
    JOIN postings r ON r.account_id = d.account_id AND r.id > d.id AND r.amount < 0 AND r.balance_after IS NOT NULL
    JOIN entries re ON re.id = r.entry_id AND re.reversal_of IS NOT NULL
    JOIN postings q ON q.entry_id = re.reversal_of AND q.account_id = r.account_id AND q.id < d.id
    GROUP BY r.account_id),
later AS (SELECT d.code, d.amount AS credit, p.id, p.account_id, p.entry_id, p.amount, p.balance_after,
        pe.reversal_of, pe.kind, pe.metadata,
        sum(CASE WHEN p.amount > 0 AND EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = p.entry_id) THEN p.amount
                 WHEN p.amount < 0 AND pe.reversal_of IS NOT NULL THEN p.amount ELSE 0 END)
            OVER (PARTITION BY p.account_id ORDER BY p.id) AS gone_run
    FROM d JOIN postings p ON p.account_id = d.account_id AND p.id > d.id AND p.balance_after IS NOT NULL
    JOIN entries pe ON pe.id = p.entry_id)
SELECT l.code, l.entry_id, l.kind, l.metadata FROM later l LEFT JOIN base b ON b.account_id = l.account_id
WHERE l.amount < 0 AND l.reversal_of IS NULL
  AND l.balance_after - l.gone_run - coalesce(b.gone, 0) < l.credit
  AND NOT EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = l.entry_id)
LIMIT 1`

// SpentSince tells whether what entry id credited to any of the accounts
// (which may not go negative: their postings record the balance they
// left) has been spent since: after some later debit, not reversed and no
// reversal, the account held less than the entry put on it, counting no
// credit reversed since (QSpentSince), whatever it holds now. It answers
// the account and the debit's entry (its id, kind and metadata; no
// postings).
func (tx *Tx) SpentSince(ctx context.Context, id int64, accounts []string) (account string, debit *Entry, err error) {
	var e Entry
	err = tx.QueryRow(ctx, QSpentSince, id, accounts).Scan(&account, &e.ID, &e.Kind, &e.Metadata)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return account, &e, nil
}

// QLastBefore is LastBefore's statement: for each of the accounts ($2)
// entry $1 posted to, the entry of the last posting before its own (by
// posting id: the order they changed the balance) whose entry is of one of
// the kinds ($3), read backwards from the entry's posting
// (postings_account_id_nonnegative); the greatest of them, 0 for none.
const QLastBefore = `SELECT coalesce(max(l.entry_id), 0) FROM postings d
JOIN accounts a ON a.id = d.account_id
CROSS JOIN LATERAL (SELECT p.entry_id FROM postings p JOIN entries e ON e.id = p.entry_id
    WHERE p.account_id = d.account_id AND p.id < d.id AND p.balance_after IS NOT NULL AND e.kind = ANY($3::text[])
    ORDER BY p.id DESC LIMIT 1) l
WHERE d.entry_id = $1 AND a.code = ANY($2::text[])`

// LastBefore answers the greatest id of the entries of the kinds that
// posted to any of the accounts (which may not go negative) before entry
// id did, in the order the postings changed the balance (0 for none). For
// entries whose ids are drawn in that order too (the prepaid movements,
// drawn under the customer's lock), the entries of those kinds with a
// greater id are exactly those that came after entry id, whenever its own
// id was drawn: a manual entry draws its id before it waits for a balance
// row, and may post after entries with greater ids.
func (tx *Tx) LastBefore(ctx context.Context, id int64, accounts, kinds []string) (int64, error) {
	var last int64
	err := tx.QueryRow(ctx, QLastBefore, id, accounts, kinds).Scan(&last)
	return last, err
}
