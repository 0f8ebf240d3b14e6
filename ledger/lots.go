package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// The reads of points lots. Lots are kept by the ledger (post.go creates,
// draws and restores them); these say what they hold.

// LotSummary splits an account's points by the state of their lots at an
// instant: pending points (not available yet) and expired points (not yet
// taken by an expiry run) cannot be spent.
type LotSummary struct {
	Balance   int64 // every point left in a lot: the account's balance
	Available int64 // in lots available and unexpired
	Pending   int64 // in lots not available yet
	Expiring  int64 // available points in lots that expire by the horizon asked for
}

// qLotSummary sums the lots of account $1 as of $2, with the horizon $3.
const qLotSummary = `SELECT coalesce(sum(l.remaining), 0),
    coalesce(sum(l.remaining) FILTER (WHERE l.available_at <= $2 AND l.expires_at > $2), 0),
    coalesce(sum(l.remaining) FILTER (WHERE l.available_at > $2), 0),
    coalesce(sum(l.remaining) FILTER (WHERE l.available_at <= $2 AND l.expires_at > $2 AND l.expires_at <= $3), 0)
FROM points_lots l JOIN accounts a ON a.id = l.account_id
WHERE a.code = $1 AND l.open`

// LotSummary reads the account's lots as of the transaction's Now, counting
// as Expiring the available points that expire by expiringBy. An account
// without lots has a zero summary.
func (tx *Tx) LotSummary(ctx context.Context, code string, expiringBy time.Time) (LotSummary, error) {
	var s LotSummary
	err := tx.QueryRow(ctx, qLotSummary, code, tx.now, expiringBy).Scan(&s.Balance, &s.Available, &s.Pending, &s.Expiring)
	return s, err
}

// qAvailablePoints is, for each account code of $1 in its order, the
// points in its lots available and unexpired at $2 (LotSummary's
// Available; 0 for an account without lots, or unknown), and the first
// instant after $2 at which that changes by time alone: a lot's becoming
// available or its expiry (NULL when none will). Each account is looked
// up by its code and its lots read from the open-lots index, whatever a
// generic plan guesses of the array (OFFSET 0).
const qAvailablePoints = `SELECT coalesce(s.available, 0), s.changes
FROM unnest($1::text[]) WITH ORDINALITY AS u (code, ord)
LEFT JOIN LATERAL (SELECT id FROM accounts WHERE code = u.code OFFSET 0) a ON true
LEFT JOIN LATERAL (SELECT sum(l.remaining) FILTER (WHERE l.available_at <= $2) AS available,
        min(CASE WHEN l.available_at > $2 THEN l.available_at ELSE l.expires_at END) AS changes
    FROM points_lots l WHERE l.account_id = a.id AND l.open AND l.expires_at > $2) s ON true
ORDER BY u.ord`

// QueueAvailablePoints queues into b one read, in one statement, of the
// points available at at in each of the accounts: into available, by
// index (a slice as long as codes); and into changes the first instant
// after at when any of them changes by time alone (a lot becomes
// available or expires), the zero time when none will. What it reads
// holds until then: a caller that reads as of one instant and writes as
// of a later one checks the later is before changes.
func QueueAvailablePoints(b *pgx.Batch, codes []string, at time.Time, available []int64, changes *time.Time) {
	b.Queue(qAvailablePoints, codes, at).Query(func(rows pgx.Rows) error {
		*changes = time.Time{}
		n := 0
		var points int64
		var next *time.Time
		_, err := pgx.ForEachRow(rows, []any{&points, &next}, func() error {
			if n < len(available) {
				available[n] = points
			}
			n++
			if next != nil && (changes.IsZero() || next.Before(*changes)) {
				*changes = *next
			}
			return nil
		})
		if err == nil && n != len(available) {
			err = fmt.Errorf("ledger: %d available points read for %d accounts", n, len(available))
		}
		return err
	})
}

// Holdings is what a customer holds: their points by the state of their
// lots, the points they owe (minus their points_owed balance), and the
// balances of their prepaid and rebate accounts (CNY).
type Holdings struct {
	Points  LotSummary
	Owed    int64
	Prepaid decimal.Decimal
	Rebate  decimal.Decimal
}

// QueueHoldings queues into b one read of the customer's holdings as of at,
// counting as expiring the available points that expire by expiringBy: for
// a caller that reads its own rows in the same round trip.
func QueueHoldings(b *pgx.Batch, customerID string, at, expiringBy time.Time, into *Holdings) {
	b.Queue(`SELECT l.*,
    coalesce((SELECT sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id WHERE a.code = $4), 0),
    coalesce((SELECT sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id WHERE a.code = $5), 0),
    coalesce((SELECT -sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id WHERE a.code = $6), 0)
FROM (`+qLotSummary+`) l`,
		CustomerAccount(customerID, "points"), at, expiringBy, CustomerAccount(customerID, "prepaid"),
		CustomerAccount(customerID, "rebate"), CustomerAccount(customerID, "points_owed")).QueryRow(func(row pgx.Row) error {
		p := &into.Points
		return row.Scan(&p.Balance, &p.Available, &p.Pending, &p.Expiring, &into.Prepaid, &into.Rebate, &into.Owed)
	})
}

// ExpiryGroup is the points left in an account's lots that expire at one
// instant.
type ExpiryGroup struct {
	ExpiresAt time.Time
	Points    int64
}

// ExpiringLots lists the points left in the account's lots that expire
// after after and at or before by, available or not, by expiry instant,
// soonest first.
func (tx *Tx) ExpiringLots(ctx context.Context, code string, after, by time.Time) ([]ExpiryGroup, error) {
	rows, err := tx.Query(ctx, qExpiringLots, code, after, by)
	return expiryGroups(rows, err)
}

// ExpiringTotals is, for each of the accounts codes that has any, the sum
// of the points ExpiringLots(code, after, by) lists: the points left in
// its lots that expire after after and at or before by, in one query for
// them all (an expiry preview's chunk of customers). An account with none
// is not in the map.
func (tx *Tx) ExpiringTotals(ctx context.Context, codes []string, after, by time.Time) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `SELECT a.code, sum(l.remaining)::bigint FROM accounts a
JOIN points_lots l ON l.account_id = a.id
WHERE a.code = ANY($1::text[]) AND l.open AND l.expires_at > $2 AND l.expires_at <= $3
GROUP BY a.code`, codes, after, by)
	if err != nil {
		return nil, err
	}
	totals := make(map[string]int64, len(codes))
	var code string
	var points int64
	_, err = pgx.ForEachRow(rows, []any{&code, &points}, func() error {
		totals[code] = points
		return nil
	})
	return totals, err
}

// qExpiringLots is ExpiringLots' statement.
const qExpiringLots = `SELECT l.expires_at, sum(l.remaining) FROM points_lots l
JOIN accounts a ON a.id = l.account_id
WHERE a.code = $1 AND l.open AND l.expires_at > $2 AND l.expires_at <= $3
GROUP BY l.expires_at ORDER BY l.expires_at`

// LockExpiring locks the points account code's balance (LockBalance) and
// reads, in the same round trip, what ExpiringLots(code, after, by)
// answers, the balance now, and its least balance from since on
// (LeastSince): what an expiry run needs of a customer to take their
// expired points at the right instant.
func (tx *Tx) LockExpiring(ctx context.Context, code string, after, by, since time.Time) (
	groups []ExpiryGroup, held, least decimal.Decimal, err error) {
	var (
		b        pgx.Batch
		balances []decimal.Decimal
	)
	if err := tx.QueueLockBalances(&b, &balances, code); err != nil {
		return nil, held, least, err
	}
	b.Queue(qExpiringLots, code, after, by).Query(func(rows pgx.Rows) error {
		groups, err = expiryGroups(rows, nil)
		return err
	})
	b.Queue(qDatedFloors, []string{code}, since).Query(func(rows pgx.Rows) error {
		var ord int
		_, err := pgx.ForEachRow(rows, []any{&ord, &least}, func() error { return nil })
		return err
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, held, least, err
	}
	return groups, balances[0], least, nil
}

// expiryGroups collects the rows of (expires_at, points) a query answered.
func expiryGroups(rows pgx.Rows, err error) ([]ExpiryGroup, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ExpiryGroup, error) {
		var g ExpiryGroup
		err := row.Scan(&g.ExpiresAt, &g.Points)
		return g, err
	})
}

// creditedLot finds the lot l that entry $1 credited on account a (code
// $2): its own, or the shared lot its posting names.
const creditedLot = `FROM accounts a JOIN points_lots l ON l.account_id = a.id
WHERE a.code = $2 AND ((l.entry_id = $1 AND NOT l.shared)
    OR l.id = (SELECT p.lot_id FROM postings p WHERE p.entry_id = $1 AND p.account_id = a.id))`

// LotRemaining is what is left of the lot the entry credited on the
// account (its own, or the shared lot its posting names): 0 when it
// credited none there.
func (tx *Tx) LotRemaining(ctx context.Context, code string, entryID int64) (int64, error) {
	var left int64
	err := tx.QueryRow(ctx, `SELECT coalesce(sum(l.remaining), 0) `+creditedLot, entryID, code).Scan(&left)
	return left, err
}

// CreditedLot is the id of the lot the entry credited on the account (as
// LotRemaining finds it): 0 when it credited none there.
func (tx *Tx) CreditedLot(ctx context.Context, code string, entryID int64) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT coalesce(max(l.id), 0) `+creditedLot, entryID, code).Scan(&id)
	return id, err
}

// ExpiringAccounts lists the customer points accounts that hold points in
// lots expiring at or before asOf: at most limit of them, in code order,
// after the code after (a keyset cursor: "" for the first page).
func (l *Ledger) ExpiringAccounts(ctx context.Context, asOf time.Time, after string, limit int) ([]string, error) {
	rows, err := l.pool.Query(ctx, `SELECT a.code FROM accounts a
WHERE a.code > $1 AND a.asset = 'PTS' AND NOT a.allow_negative
  AND EXISTS (SELECT 1 FROM points_lots l WHERE l.account_id = a.id AND l.open AND l.expires_at <= $2)
ORDER BY a.code LIMIT $3`, after, asOf, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// AccountExpiry is the points left in one customer points account's lots
// that expire at one instant.
type AccountExpiry struct {
	AccountID  int64
	CustomerID string
	ExpiresAt  time.Time
	Points     int64
}

// ExpiringPoints lists, soonest expiry first and by account within one
// instant, the points left in customer lots (available or not) that expire
// after after and at or before by: at most limit groups, those past the
// group from (a keyset cursor: the last group of the page before; the zero
// AccountExpiry for the first page).
func (tx *Tx) ExpiringPoints(ctx context.Context, after, by time.Time, from AccountExpiry, limit int) ([]AccountExpiry, error) {
	if from.ExpiresAt.IsZero() {
		from.ExpiresAt = after
	}
	rows, err := tx.Query(ctx, `SELECT l.account_id, a.code, l.expires_at, sum(l.remaining) FROM points_lots l
JOIN accounts a ON a.id = l.account_id
WHERE l.open AND l.expires_at > $1 AND l.expires_at <= $2 AND (l.expires_at, l.account_id) > ($3, $4)
  AND a.asset = 'PTS' AND NOT a.allow_negative
GROUP BY l.expires_at, l.account_id, a.code ORDER BY l.expires_at, l.account_id LIMIT $5`, after, by, from.ExpiresAt, from.AccountID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccountExpiry, error) {
		var g AccountExpiry
		var code string
		if err := row.Scan(&g.AccountID, &code, &g.ExpiresAt, &g.Points); err != nil {
			return g, err
		}
		g.CustomerID, _ = CustomerOf(code)
		return g, nil
	})
}

// ReturnedLot is what an entry put back into one lot.
type ReturnedLot struct {
	LotID     int64
	ExpiresAt time.Time
	Points    int64
}

// ReturnedExpired lists, soonest expiry first (of equal expiry, the older
// lot first), the points the entry put back (restored draws) on the
// account into lots that expire at or before the transaction's Now:
// points returned expired.
func (tx *Tx) ReturnedExpired(ctx context.Context, code string, entryID int64) ([]ReturnedLot, error) {
	rows, err := tx.Query(ctx, `SELECT l.id, l.expires_at, -d.amount FROM lot_draws d
JOIN points_lots l ON l.id = d.lot_id JOIN accounts a ON a.id = l.account_id
WHERE d.entry_id = $1 AND d.amount < 0 AND a.code = $2 AND l.expires_at <= $3
ORDER BY l.expires_at, l.id`, entryID, code, tx.now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReturnedLot, error) {
		var r ReturnedLot
		err := row.Scan(&r.LotID, &r.ExpiresAt, &r.Points)
		return r, err
	})
}
