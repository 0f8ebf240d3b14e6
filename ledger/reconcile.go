package ledger

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Check is the outcome of one invariant.
type Check struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Pass        bool   `json:"pass"`
	// Offending lists the ids (entry ids, account codes or assets) that break
	// the invariant, at most maxOffending of them.
	Offending []string `json:"offending"`
}

// Reconciliation is the outcome of every invariant, read in one snapshot.
type Reconciliation struct {
	Pass   bool    `json:"pass"`
	Checks []Check `json:"checks"`
}

const maxOffending = 100

// invariants are the checks of docs/RULES.md that apply to the ledger. Each
// query returns the offending ids as text; no row means the check passes.
var invariants = []struct{ name, description, query string }{
	{"entries_balance", "every entry has postings that sum to zero per asset",
		`SELECT e.id::text FROM entries e
LEFT JOIN postings p ON p.entry_id = e.id
GROUP BY e.id
HAVING count(p.id) < 2 OR bool_or(p.id IS NULL)
UNION
SELECT entry_id::text FROM postings GROUP BY entry_id, asset HAVING sum(amount) <> 0`},
	{"assets_sum_to_zero", "per asset, all postings and all stored balances sum to zero",
		`SELECT asset FROM postings GROUP BY asset HAVING sum(amount) <> 0
UNION
SELECT a.asset FROM balance_buckets b JOIN accounts a ON a.id = b.account_id GROUP BY a.asset HAVING sum(b.balance) <> 0`},
	{"balances_match_postings", "every stored balance equals the sum of its account's postings",
		`SELECT a.code FROM accounts a
LEFT JOIN (SELECT account_id, sum(balance) AS s FROM balance_buckets GROUP BY account_id) b ON b.account_id = a.id
LEFT JOIN (SELECT account_id, sum(amount) AS s FROM postings GROUP BY account_id) p ON p.account_id = a.id
WHERE coalesce(b.s, 0) <> coalesce(p.s, 0)`},
	{"kept_balances_match_postings", "every balance kept at a closed month's end equals the sum of its account's postings effective before it",
		`WITH k AS (SELECT account_id, ends_at, balance,
    lag(ends_at) OVER (PARTITION BY account_id ORDER BY ends_at) AS prev_ends,
    lag(balance) OVER (PARTITION BY account_id ORDER BY ends_at) AS prev_balance
  FROM period_balances)
SELECT coalesce(a.code, k.account_id::text) || ' ' || to_char(k.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM k LEFT JOIN accounts a ON a.id = k.account_id
WHERE a.id IS NULL OR k.balance <> coalesce(k.prev_balance, 0) + coalesce((SELECT sum(p.amount) FROM postings p
    WHERE p.account_id = k.account_id AND p.effective_at < k.ends_at AND p.effective_at >= coalesce(k.prev_ends, '-infinity')), 0)`},
	{"no_forbidden_negative", "no account that may not go negative is below zero",
		`SELECT a.code FROM accounts a JOIN balance_buckets b ON b.account_id = a.id
WHERE NOT a.allow_negative GROUP BY a.code HAVING sum(b.balance) < 0
UNION
SELECT a.code FROM accounts a JOIN postings p ON p.account_id = a.id
WHERE NOT a.allow_negative GROUP BY a.code HAVING sum(p.amount) < 0`},
	{"never_below_zero_by_date", "no account that may not go negative stood below zero as of any instant: read by date (effective_at), not in the order entries were recorded, its balance is never below zero (the first instant it was is named)",
		`SELECT a.code || ' ' || to_char(min(s.effective_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
FROM (SELECT account_id, effective_at, sum(amount) OVER (PARTITION BY account_id ORDER BY effective_at) AS balance
    FROM postings) s
JOIN accounts a ON a.id = s.account_id
WHERE NOT a.allow_negative AND s.balance < 0
GROUP BY a.code`},
	{"owed_not_negative", "no customer owes a negative number of points: every points_owed account is at or below zero",
		`SELECT a.code FROM accounts a JOIN balance_buckets b ON b.account_id = a.id
WHERE a.code LIKE 'customer:%:points_owed' GROUP BY a.code HAVING sum(b.balance) > 0`},
	{"points_match_lots", "every customer's points balance equals the sum of their lots' remaining amounts",
		`SELECT a.code FROM accounts a
LEFT JOIN (SELECT account_id, sum(balance) AS s FROM balance_buckets GROUP BY account_id) b ON b.account_id = a.id
LEFT JOIN (SELECT account_id, sum(remaining) AS s FROM points_lots GROUP BY account_id) l ON l.account_id = a.id
WHERE a.asset = 'PTS' AND NOT a.allow_negative AND coalesce(b.s, 0) <> coalesce(l.s, 0)`},
	{"lots_match_draws", "every lot's remaining amount is its amount less what debits drew from it",
		`SELECT l.id::text FROM points_lots l
LEFT JOIN (SELECT lot_id, sum(amount) AS s FROM lot_draws GROUP BY lot_id) d ON d.lot_id = l.id
WHERE l.remaining <> l.amount - coalesce(d.s, 0)`},
	{"lots_match_credits", "every lot's amount is what the credits that went into it gave (a shared lot: the postings that name it; a lot of its own: the posting of the entry that opened it), and a posting names only a shared lot of its own account",
		`SELECT 'lot:' || l.id FROM points_lots l
LEFT JOIN (SELECT lot_id, sum(amount) AS s FROM postings WHERE lot_id IS NOT NULL GROUP BY lot_id) c ON c.lot_id = l.id
LEFT JOIN postings o ON o.entry_id = l.entry_id AND o.account_id = l.account_id
WHERE l.amount IS DISTINCT FROM CASE WHEN l.shared THEN c.s ELSE o.amount END
UNION ALL
SELECT 'posting:' || p.id FROM postings p
LEFT JOIN points_lots l ON l.id = p.lot_id
WHERE p.lot_id IS NOT NULL AND (l.id IS NULL OR NOT l.shared OR l.account_id <> p.account_id OR p.amount <= 0)`},
	{"references_intact", "every posting names an existing entry and an existing account of its asset, every lot an existing entry and account",
		`SELECT 'posting:' || p.id FROM postings p
LEFT JOIN entries e ON e.id = p.entry_id
LEFT JOIN accounts a ON a.id = p.account_id AND a.asset = p.asset
WHERE e.id IS NULL OR a.id IS NULL
UNION ALL
SELECT 'lot:' || l.id FROM points_lots l
LEFT JOIN entries e ON e.id = l.entry_id
LEFT JOIN accounts a ON a.id = l.account_id
WHERE e.id IS NULL OR a.id IS NULL`},
	{"balance_after_where_kept", "a posting records the balance it left exactly when its account may not go negative: the statement of such an account reads its postings by that",
		`SELECT 'posting:' || p.id FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE (p.balance_after IS NULL) <> a.allow_negative`},
	{"amounts_respect_scale", "no posting is finer than its asset's scale",
		`SELECT DISTINCT p.entry_id::text FROM postings p JOIN assets s ON s.code = p.asset
WHERE p.amount <> round(p.amount, s.scale)`},
	{"reversals_mirror", "every reversal has exactly the opposite postings of the entry it reverses",
		`SELECT r.id::text FROM entries r
JOIN postings rp ON rp.entry_id = r.id
LEFT JOIN postings op ON op.entry_id = r.reversal_of AND op.account_id = rp.account_id
WHERE r.reversal_of IS NOT NULL AND (op.id IS NULL OR op.amount <> -rp.amount)
UNION
SELECT r.id::text FROM entries r
WHERE r.reversal_of IS NOT NULL
  AND (SELECT count(*) FROM postings WHERE entry_id = r.id) <> (SELECT count(*) FROM postings WHERE entry_id = r.reversal_of)`},
}

// ExtraCheck is an invariant kept outside the ledger (by the packages that
// own the data), checked in the same snapshot: tx runs the owner's SQL and
// the ledger's reads.
type ExtraCheck func(ctx context.Context, tx *Tx) (Check, error)

// Reconcile checks every invariant, and the extra ones, in one consistent
// snapshot.
func (l *Ledger) Reconcile(ctx context.Context, extra ...ExtraCheck) (Reconciliation, error) {
	var r Reconciliation
	err := l.inTx(ctx, readOnly, func(ptx pgx.Tx) error {
		tx := &Tx{Tx: ptx, l: l, now: l.now()}
		r = Reconciliation{Pass: true}
		for _, inv := range invariants {
			rows, err := tx.Query(ctx, inv.query+` LIMIT `+itoa(maxOffending))
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if ids == nil {
				ids = []string{}
			}
			c := Check{Name: inv.name, Description: inv.description, Pass: len(ids) == 0, Offending: ids}
			r.Pass = r.Pass && c.Pass
			r.Checks = append(r.Checks, c)
		}
		for _, check := range extra {
			c, err := check(ctx, tx)
			if err != nil {
				return err
			}
			r.Pass = r.Pass && c.Pass
			r.Checks = append(r.Checks, c)
		}
		return nil
	})
	return r, err
}

// PostedAmounts reads what each entry posted to an account, in one
// statement: entries[i] to codes[i], zero when it posted nothing there.
func (tx *Tx) PostedAmounts(ctx context.Context, entries []int64, codes []string) ([]decimal.Decimal, error) {
	rows, err := tx.Query(ctx, `SELECT coalesce((SELECT p.amount FROM postings p JOIN accounts a ON a.id = p.account_id
                  WHERE p.entry_id = u.entry_id AND a.code = u.code), 0)
FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS u (entry_id, code, ord) ORDER BY u.ord`, entries, codes)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[decimal.Decimal])
}

// MissingEntries lists, in the order given, those of the ids that name no
// entry: for the owners of rows that refer to entries without a foreign
// key.
func (tx *Tx) MissingEntries(ctx context.Context, ids []int64) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT u.id FROM unnest($1::bigint[]) WITH ORDINALITY AS u (id, ord)
WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.id = u.id) ORDER BY u.ord`, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}
