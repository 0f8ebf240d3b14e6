package ledger

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// The ledger's reports, for finance: computed from postings by effective
// time, each in one read-only snapshot, streamed row by row so that their
// memory does not grow with the books. Reports of loyalty's meaning
// (rebates, points liabilities) are composed from these by their owners.

// TrialRow is an account's balance at an instant, on its side.
type TrialRow struct {
	Account string
	Asset   Asset
	Debit   decimal.Decimal // -balance when the balance is negative
	Credit  decimal.Decimal // balance when positive
	Balance decimal.Decimal
}

// AssetTotal sums one asset's side of the trial balance.
type AssetTotal struct {
	Asset    Asset           `json:"asset"`
	Debits   decimal.Decimal `json:"debits"`
	Credits  decimal.Decimal `json:"credits"`
	Balanced bool            `json:"balanced"`
}

// TrialBalance emits every account with its balance as of asOf (entries
// effective at or before it), in code order, and returns the totals per
// asset, by asset: debits equal credits. The balances start from those
// kept at the end of the latest closed month at or before asOf
// (period_balances), and add the postings effective since.
func (l *Ledger) TrialBalance(ctx context.Context, asOf time.Time, emit func(TrialRow) error) ([]AssetTotal, error) {
	totals := map[Asset]*AssetTotal{}
	err := l.ReadTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, qTrialBalance, asOf)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r TrialRow
			if err := rows.Scan(&r.Account, &r.Asset, &r.Balance); err != nil {
				return err
			}
			if r.Balance.IsNegative() {
				r.Debit = r.Balance.Neg()
			} else {
				r.Credit = r.Balance
			}
			t := totals[r.Asset]
			if t == nil {
				t = &AssetTotal{Asset: r.Asset}
				totals[r.Asset] = t
			}
			t.Debits, t.Credits = t.Debits.Add(r.Debit), t.Credits.Add(r.Credit)
			if err := emit(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	out := make([]AssetTotal, 0, len(totals))
	for _, t := range totals {
		t.Balanced = t.Debits.Equal(t.Credits)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out, err
}

// qTrialBalance is every account's balance as of $1, as BalanceAsOf reads
// one: the account's latest kept balance at or before $1 (by
// period_balances_pkey), plus its postings effective from that balance's
// instant (or ever) to $1 (by postings_account_effective). Each account's
// line rests on its own kept rows only, which reconciliation checks
// (kept_balances_match_postings): a month that kept no row for an account
// costs that account's line more postings to read, never a wrong sum.
// Postings before the kept balance are not read, and there is no index on
// the effective instant alone for the write path to keep.
const qTrialBalance = `SELECT a.code, a.asset, coalesce(k.balance, 0) + coalesce(m.amount, 0)
FROM accounts a
LEFT JOIN LATERAL (SELECT b.ends_at, b.balance FROM period_balances b WHERE b.account_id = a.id
    AND b.ends_at <= $1 ORDER BY b.ends_at DESC LIMIT 1) k ON true
LEFT JOIN LATERAL (SELECT sum(p.amount) AS amount FROM postings p WHERE p.account_id = a.id AND p.effective_at <= $1
    AND p.effective_at >= coalesce(k.ends_at, '-infinity')) m ON true
ORDER BY a.code`

// Movements is what moved an account over a period [from, to).
type Movements struct {
	Account string
	// Opening is the sum of the account's postings effective before from.
	Opening decimal.Decimal
	// ByKind sums the postings effective in the period by the kind of their
	// entry, kinds that sum to zero left out. A reversal counts, with its
	// opposite sign, in the kind of the entry it reversed (the reversed_kind
	// its metadata records), so that a reversed deposit nets out of
	// "deposit"; any other entry in its own kind (kindLabel). Empty for an
	// account the filter does not want by kind (MovementFilter.ByKind).
	ByKind map[string]decimal.Decimal
	// Closing is Opening plus the period's postings.
	Closing decimal.Decimal
}

// MovementFilter selects the accounts of a movements report: the codes
// that start with Prefix and, when Suffixes is not empty, end with one of
// them.
type MovementFilter struct {
	Prefix   string
	Suffixes []string
	// ByKind, when not empty, are the suffixes (as Suffixes) of the
	// accounts whose movements are wanted by kind: the others' are summed
	// without reading their entries, and their Movements have no ByKind.
	// A platform account has a posting in most entries: not reading their
	// kinds is most of the report's cost. Empty: every account by kind.
	ByKind []string
}

// Movements emits, in one snapshot, the movements over [from, to) of every
// account the filter selects that has a posting effective before to,
// ordered by the second part of their codes (a customer account's
// customer), then by code. It is MovementsEach over the one period.
func (l *Ledger) Movements(ctx context.Context, f MovementFilter, from, to time.Time, emit func(Movements) error) error {
	return l.MovementsEach(ctx, f, []time.Time{from, to}, func(m PeriodMovements) error { return emit(m.Whole) })
}

// PeriodMovements is what moved an account over a period and over each of
// the periods it is cut into.
type PeriodMovements struct {
	// Whole is the account's movements over the whole period.
	Whole Movements
	// Each is its movements over each part, in order, as Movements reports
	// them for that part alone: nil for a part the account had no posting
	// effective before the end of (Movements leaves it out).
	Each []*Movements
}

// MovementsEach emits, in one snapshot and one query, what moved every
// account the filter selects that has a posting effective before the last
// of bounds, over [bounds[0], bounds[n-1]) and over each [bounds[i],
// bounds[i+1]) (bounds ascending, two at least), in Movements' order.
//
// Its cost does not grow with the parts, nor with the books before the
// period when months are closed: an account's opening is its balance kept
// at the end of the latest closed month at or before bounds[0]
// (period_balances, as TrialBalance reads it) plus its postings effective
// since, by postings_account_effective; the period's postings are read
// once, by the same index, and summed by part (and kind, reading their
// entries, for the accounts wanted by kind).
func (l *Ledger) MovementsEach(ctx context.Context, f MovementFilter, bounds []time.Time, emit func(PeriodMovements) error) error {
	if len(bounds) < 2 {
		return fmt.Errorf("ledger: MovementsEach needs two bounds at least, got %d", len(bounds))
	}
	for i := 1; i < len(bounds); i++ {
		if !bounds[i].After(bounds[i-1]) {
			return fmt.Errorf("ledger: MovementsEach's bounds must ascend")
		}
	}
	suffixes, byKind := f.Suffixes, f.ByKind
	if suffixes == nil {
		suffixes = []string{}
	}
	if byKind == nil {
		byKind = []string{}
	}
	n := len(bounds) - 1 // the parts
	return l.ReadTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, qMovementsEach, bounds[0], bounds[n], f.Prefix, suffixes, byKind, bounds)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				code    string
				opened  bool
				opening decimal.Decimal
				kinds   []*string // nil: the part's sum of an account not wanted by kind
				parts   []int32
				amounts []string
			)
			if err := rows.Scan(&code, &opened, &opening, &kinds, &parts, &amounts); err != nil {
				return err
			}
			if len(kinds) != len(parts) || len(kinds) != len(amounts) {
				return fmt.Errorf("ledger: movements of %s: %d kinds, %d parts, %d amounts", code, len(kinds), len(parts), len(amounts))
			}
			m := PeriodMovements{Whole: Movements{Account: code, Opening: opening, ByKind: map[string]decimal.Decimal{}}, Each: make([]*Movements, n)}
			moved := make([]decimal.Decimal, n)
			first := n // the first part the account had a posting by the end of
			if opened {
				first = 0
			}
			for i, kind := range kinds {
				part := int(parts[i]) - 1 // width_bucket's 1 is [bounds[0], bounds[1])
				if part < 0 || part >= n {
					return fmt.Errorf("ledger: movements of %s: part %d of %d", code, part, n)
				}
				amount, err := decimal.NewFromString(amounts[i])
				if err != nil {
					return err
				}
				first = min(first, part)
				moved[part] = moved[part].Add(amount)
				if m.Each[part] == nil {
					m.Each[part] = &Movements{Account: code, ByKind: map[string]decimal.Decimal{}}
				}
				if kind != nil {
					if !amount.IsZero() {
						m.Each[part].ByKind[*kind] = amount
					}
					m.Whole.ByKind[*kind] = m.Whole.ByKind[*kind].Add(amount)
				}
			}
			for kind, amount := range m.Whole.ByKind {
				if amount.IsZero() {
					delete(m.Whole.ByKind, kind)
				}
			}
			balance := opening
			for i := range n {
				if i >= first {
					if m.Each[i] == nil {
						m.Each[i] = &Movements{Account: code, ByKind: map[string]decimal.Decimal{}}
					}
					m.Each[i].Opening, m.Each[i].Closing = balance, balance.Add(moved[i])
				}
				balance = balance.Add(moved[i])
			}
			m.Whole.Closing = balance
			if err := emit(m); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// qMovementsEach is, for every account the filter selects ($3 the prefix,
// $4 the suffixes) in Movements' order, whether it has a posting effective
// before $1 (bounds[0]), its balance then, and the sums of its postings
// effective in [$1, $2) by part of $6 (the bounds: width_bucket's 1 is
// [$6[1], $6[2])) and kind (by part alone, kind NULL, for an account that
// does not end with one of $5 when $5 is not empty); accounts with no
// posting before $2 are left out. The balance is the latest kept at or
// before $1 plus the postings effective since, as qTrialBalance reads it;
// every posting is read by postings_account_effective, and the period's
// entries by their key, for the accounts wanted by kind only.
const qMovementsEach = `WITH selected AS (
    SELECT a.id, a.code,
        cardinality($5::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($5::text[]) s WHERE right(a.code, length(s)) = s) AS by_kind
    FROM accounts a
    WHERE starts_with(a.code, $3)
      AND (cardinality($4::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($4::text[]) s WHERE right(a.code, length(s)) = s))
)
SELECT a.code, k.ends_at IS NOT NULL OR o.n > 0, coalesce(k.balance, 0) + coalesce(o.amount, 0),
    coalesce(m.kinds, '{}'), coalesce(m.parts, '{}'), coalesce(m.amounts, '{}')
FROM selected a
LEFT JOIN LATERAL (SELECT b.ends_at, b.balance FROM period_balances b WHERE b.account_id = a.id
    AND b.ends_at <= $1 ORDER BY b.ends_at DESC LIMIT 1) k ON true
CROSS JOIN LATERAL (SELECT count(*) AS n, sum(p.amount) AS amount FROM postings p WHERE p.account_id = a.id
    AND p.effective_at < $1 AND p.effective_at >= coalesce(k.ends_at, '-infinity')) o
CROSS JOIN LATERAL (SELECT array_agg(g.kind) AS kinds, array_agg(g.part) AS parts, array_agg(g.amount::text) AS amounts FROM (
    SELECT ` + kindLabel + ` AS kind, width_bucket(p.effective_at, $6::timestamptz[]) AS part, sum(p.amount) AS amount
    FROM postings p JOIN entries e ON e.id = p.entry_id
    WHERE a.by_kind AND p.account_id = a.id AND p.effective_at >= $1 AND p.effective_at < $2
    GROUP BY 1, 2
    UNION ALL
    SELECT NULL, width_bucket(p.effective_at, $6::timestamptz[]), sum(p.amount)
    FROM postings p
    WHERE NOT a.by_kind AND p.account_id = a.id AND p.effective_at >= $1 AND p.effective_at < $2
    GROUP BY 2) g) m
WHERE k.ends_at IS NOT NULL OR o.n > 0 OR m.kinds IS NOT NULL
ORDER BY split_part(a.code, ':', 2), a.code`
