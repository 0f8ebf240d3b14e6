package ledger

import (
	"context"
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
	// entry. A reversal counts, with its opposite sign, in the kind of the
	// entry it reversed (the reversed_kind its metadata records), so that a
	// reversed deposit nets out of "deposit".
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
}

// Movements emits, in one snapshot, the movements over [from, to) of every
// account the filter selects that has a posting effective before to,
// ordered by the second part of their codes (a customer account's
// customer), then by code.
func (l *Ledger) Movements(ctx context.Context, f MovementFilter, from, to time.Time, emit func(Movements) error) error {
	suffixes := f.Suffixes
	if suffixes == nil {
		suffixes = []string{}
	}
	return l.ReadTx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT a.code, coalesce(e.metadata->>'reversed_kind', e.kind),
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at < $1), 0),
    coalesce(sum(p.amount) FILTER (WHERE p.effective_at >= $1), 0)
FROM postings p
JOIN accounts a ON a.id = p.account_id
JOIN entries e ON e.id = p.entry_id
WHERE starts_with(a.code, $3)
  AND (cardinality($4::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($4::text[]) s WHERE right(a.code, length(s)) = s))
  AND p.effective_at < $2
GROUP BY a.code, 2
ORDER BY split_part(a.code, ':', 2), a.code`, from, to, f.Prefix, suffixes)
		if err != nil {
			return err
		}
		defer rows.Close()
		var m *Movements
		for rows.Next() {
			var code, kind string
			var before, during decimal.Decimal
			if err := rows.Scan(&code, &kind, &before, &during); err != nil {
				return err
			}
			if m != nil && m.Account != code {
				if err := emit(*m); err != nil {
					return err
				}
				m = nil
			}
			if m == nil {
				m = &Movements{Account: code, ByKind: map[string]decimal.Decimal{}}
			}
			m.Opening = m.Opening.Add(before)
			m.Closing = m.Closing.Add(before).Add(during)
			if !during.IsZero() {
				m.ByKind[kind] = m.ByKind[kind].Add(during)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if m != nil {
			return emit(*m)
		}
		return nil
	})
}
