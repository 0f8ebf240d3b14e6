package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
)

var readOnly = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

const qAccount = `SELECT a.id, a.code, a.asset, a.allow_negative, a.created_at,
       coalesce((SELECT sum(b.balance) FROM balance_buckets b WHERE b.account_id = a.id), 0)
FROM accounts a`

func scanAccount(row pgx.Row) (int64, Account, error) {
	var id int64
	var a Account
	err := row.Scan(&id, &a.Code, &a.Asset, &a.AllowNegative, &a.CreatedAt, &a.Balance)
	return id, a, err
}

// Account returns the account with its current balance, read from its
// stored balance rows (one row, or a bounded number of buckets): O(1).
//
// Errors: fault.NotFound.
func (l *Ledger) Account(ctx context.Context, code string) (Account, error) {
	_, a, err := l.account(ctx, l.pool, code)
	return a, err
}

func (l *Ledger) account(ctx context.Context, q querier, code string) (int64, Account, error) {
	id, a, err := scanAccount(q.QueryRow(ctx, qAccount+` WHERE a.code = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, a, &fault.Error{Code: fault.NotFound, Account: code, Message: "no account " + quote(code)}
	}
	return id, a, err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// AccountFilter selects accounts to list.
type AccountFilter struct {
	Prefix string // only codes starting with it
	After  string // keyset cursor: codes after this one
	Limit  int
}

// Accounts lists accounts in code order with their balances.
func (l *Ledger) Accounts(ctx context.Context, f AccountFilter) ([]Account, error) {
	rows, err := l.pool.Query(ctx, qAccount+`
WHERE a.code > $1 AND starts_with(a.code, $2)
ORDER BY a.code LIMIT $3`, f.After, f.Prefix, f.Limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Account, error) {
		_, a, err := scanAccount(row)
		return a, err
	})
}

// BalanceAsOf is the account's balance counting the entries effective at or
// before t: its balance kept at the end of the latest closed month at or
// before t (period_balances), plus its postings effective since.
//
// Errors: fault.NotFound.
func (l *Ledger) BalanceAsOf(ctx context.Context, code string, t time.Time) (decimal.Decimal, error) {
	var sum decimal.Decimal
	err := l.inTx(ctx, readOnly, func(tx pgx.Tx) error {
		id, _, err := l.account(ctx, tx, code)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, qBalanceAsOf, id, t).Scan(&sum)
	})
	return sum, err
}

// qBalanceAsOf is account $1's balance as of $2: its latest kept balance at
// or before $2, and the sum of its postings effective from that balance's
// instant (or ever) to $2.
const qBalanceAsOf = `SELECT coalesce(k.balance, 0) + coalesce((SELECT sum(p.amount) FROM postings p
    WHERE p.account_id = $1 AND p.effective_at <= $2 AND p.effective_at >= coalesce(k.ends_at, '-infinity')), 0)
FROM (SELECT) one
LEFT JOIN LATERAL (SELECT ends_at, balance FROM period_balances WHERE account_id = $1 AND ends_at <= $2
    ORDER BY ends_at DESC LIMIT 1) k ON true`

// StatementLine is a posting of an account's statement.
type StatementLine struct {
	PostingID    int64           `json:"posting_id"`
	EntryID      int64           `json:"entry_id"`
	Kind         string          `json:"kind"`
	EffectiveAt  time.Time       `json:"effective_at"`
	RecordedAt   time.Time       `json:"recorded_at"`
	Amount       decimal.Decimal `json:"amount"`
	BalanceAfter decimal.Decimal `json:"balance_after"`
	// Cursor is the cursor of the page that goes on after this line
	// (Statement's before).
	Cursor int64 `json:"-"`
}

// Statement lists an account's postings newest first, each with the
// balance after it, limit at a time. before is the keyset cursor (0 for the
// first page; then the previous page's next cursor, or a line's Cursor):
// pages never shift or repeat when entries are posted meanwhile. next is 0
// on the last page. A cursor is the id of the last posting shown, for an
// account that may not go negative; for a hot one, its entry's id,
// negated (so that a posting id, a cursor given before 0040, is refused
// rather than read as an entry).
//
// An account that may not go negative has its balance row locked by every
// entry, so its postings' ids follow commit order and are the page order.
// A hot (platform) account is written by many transactions side by side,
// whose ids do not follow commit order; its postings are ordered by the
// transaction that wrote them, then id, and a page shows only postings of
// transactions older than every transaction still in flight. A posting that
// commits later therefore sorts above every posting already shown, and a
// reader that pages down from the top, and later again from the top down to
// where it started before, sees each posting exactly once. A posting shows
// once every transaction that began writing before it has ended.
//
// Errors: fault.NotFound; fault.Invalid (before is not a cursor of the
// account's statement).
func (l *Ledger) Statement(ctx context.Context, code string, before int64, limit int) (lines []StatementLine, next int64, err error) {
	// A hot account's page is read again, in a new transaction (a new
	// snapshot), while its horizon counts a transaction pg_stat_activity
	// does not know (qHorizonUnsure): a few times at most, then as it is.
	err = untilSure(func(last bool) (sure bool, err error) {
		unsure := false
		lines, next, err = l.statement(ctx, code, before, limit, last, &unsure)
		return !unsure, err
	}, nil)
	return lines, next, err
}

// unsureReads is how many times a read is made while its horizon counts a
// transaction pg_stat_activity does not know (qHorizonUnsure).
const unsureReads = 4

// untilSure calls read until it is sure or fails, unsureReads times at
// most; last is true on the last call, whose answer stands as it is.
// between, when not nil, runs before each read after the first.
func untilSure(read func(last bool) (sure bool, err error), between func() error) error {
	for n := 1; ; n++ {
		last := n == unsureReads
		if sure, err := read(last); err != nil || sure || last {
			return err
		}
		if between != nil {
			if err := between(); err != nil {
				return err
			}
		}
	}
}

func (l *Ledger) statement(ctx context.Context, code string, before int64, limit int, last bool, unsure *bool) (lines []StatementLine, next int64, err error) {
	err = l.inTx(ctx, readOnly, func(tx pgx.Tx) error {
		lines, next = nil, 0
		id, acct, err := l.account(ctx, tx, code)
		if err != nil {
			return err
		}
		if acct.AllowNegative {
			lines, next, *unsure, err = hotStatement(ctx, tx, id, acct.Balance, before, limit, last)
			return err
		}
		below := before
		switch {
		case below == 0:
			below = math.MaxInt64 // the first page: every posting is below it
		case below < 0:
			return badCursor // a hot account's
		}
		rows, err := tx.Query(ctx, qStatementPage, id, below, limit+1)
		if err != nil {
			return err
		}
		lines, err = pgx.CollectRows(rows, scanStatementLine)
		if err != nil {
			return err
		}
		for i := range lines {
			lines[i].Cursor = lines[i].PostingID
		}
		if len(lines) > limit {
			lines = lines[:limit]
			next = lines[limit-1].Cursor
		}
		return nil
	})
	return lines, next, err
}

// qStatementPage is a page of the statement of an account that may not go
// negative: its postings below the cursor $2, newest first. Each of them
// records the balance it left, as only such an account's postings do
// (the check balance_after_where_kept): the predicate of the index that
// holds them, postings_account_id_nonnegative. The cursor is
// a plain bound (the first page's is the largest id), so that a generic
// plan starts the index scan at the cursor instead of testing each posting
// above it ("$2 = 0 OR p.id < $2" is a filter in a generic plan: a page
// deep in the statement read every posting before it).
const qStatementPage = `SELECT p.id, p.entry_id, e.kind, e.effective_at, e.recorded_at, p.amount, p.balance_after
FROM postings p JOIN entries e ON e.id = p.entry_id
WHERE p.account_id = $1 AND p.id < $2 AND p.balance_after IS NOT NULL
ORDER BY p.id DESC LIMIT $3`

// qHotStatementPage, qHotStatementAbove and qHotStatementBelow are a hot
// account's page below the bound ($2, $3) in (xid, entry) order, and the
// sums of its postings at or above it and below it: the cursor posting's
// (xid, entry), or (the horizon, 0) for the first page (every posting
// below the horizon, none above it shown). Row comparisons, so that a
// generic plan starts the index scan at the bound. qHotEnds is the least
// and the greatest xid of the account's postings (0 without any): the
// bound's place between them says which sum reads fewer postings.
const (
	qHotStatementPage = `SELECT p.id, p.entry_id, e.kind, e.effective_at, e.recorded_at, p.amount, 0::numeric
FROM postings p JOIN entries e ON e.id = p.entry_id
WHERE p.account_id = $1 AND (p.xid, p.entry_id) < ($2::xid8, $3::bigint)
ORDER BY p.xid DESC, p.entry_id DESC LIMIT $4`
	qHotStatementAbove = `SELECT coalesce(sum(p.amount), 0) FROM postings p
WHERE p.account_id = $1 AND (p.xid, p.entry_id) >= ($2::xid8, $3::bigint)`
	qHotStatementBelow = `SELECT coalesce(sum(p.amount), 0) FROM postings p
WHERE p.account_id = $1 AND (p.xid, p.entry_id) < ($2::xid8, $3::bigint)`
	// qHotStatementAboveAtMost is qHotStatementAbove over $4 postings at
	// most, with how many it summed.
	qHotStatementAboveAtMost = `SELECT count(*), coalesce(sum(s.amount), 0) FROM (SELECT p.amount FROM postings p
WHERE p.account_id = $1 AND (p.xid, p.entry_id) >= ($2::xid8, $3::bigint) ORDER BY p.xid, p.entry_id LIMIT $4) s`
	qHotEnds = `coalesce((SELECT xid FROM postings WHERE account_id = $1 ORDER BY xid LIMIT 1), '0'),
       coalesce((SELECT xid FROM postings WHERE account_id = $1 ORDER BY xid DESC LIMIT 1), '0')`
)

// qHotCursor is a hot account's cursor posting: the account's ($1)
// posting in the entry $2, by the primary key.
const qHotCursor = `SELECT xid, entry_id FROM postings WHERE entry_id = $2 AND account_id = $1`

func scanStatementLine(row pgx.CollectableRow) (StatementLine, error) {
	var s StatementLine
	err := row.Scan(&s.PostingID, &s.EntryID, &s.Kind, &s.EffectiveAt, &s.RecordedAt, &s.Amount, &s.BalanceAfter)
	return s, err
}

// qHorizon is the horizon of statements: the oldest transaction in flight
// when the snapshot was taken that may write to this database, or the
// snapshot's xmax when there is none. A transaction known
// (pg_stat_activity) to belong to another database cannot, and does not
// hold statements back; one that is not known (it ended since, or its
// session cannot be seen) may, and does. Every posting that becomes
// visible later has an xid at or above the horizon, so a statement that
// shows only postings below it, in (xid, entry) order, never gains a
// posting below one it showed.
const qHorizon = `(SELECT coalesce((SELECT min(x) FROM pg_snapshot_xip(s.snap) AS x
                 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                   WHERE a.backend_xid::text = (x::text::numeric % 4294967296)::text
                                     AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
                pg_snapshot_xmax(s.snap))
 FROM (SELECT pg_current_snapshot() AS snap) s)`

// qHorizonUnsure says whether a transaction of the snapshot is not known
// to pg_stat_activity: most often one of another database that ended
// between the snapshot and the read of pg_stat_activity, which qHorizon
// must count as this database's and so holds statements back for nothing.
const qHorizonUnsure = `EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS x
        WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                          WHERE a.backend_xid::text = (x::text::numeric % 4294967296)::text))`

// horizon is qHorizon, read again (a new snapshot, under READ COMMITTED,
// and a fresh read of pg_stat_activity) while a transaction it counts is
// not known, a few times at most: so a transaction of another database
// that has just ended does not hide what this one has committed, such as
// the entry a customer was just answered for.
func horizon(ctx context.Context, tx pgx.Tx) (uint64, error) {
	var h uint64 // an xid8
	err := untilSure(func(bool) (sure bool, err error) {
		var unsure bool
		err = tx.QueryRow(ctx, `SELECT `+qHorizon+`, `+qHorizonUnsure).Scan(&h, &unsure)
		return !unsure, err
	}, func() error {
		_, err := tx.Exec(ctx, `SELECT pg_stat_clear_snapshot()`) // read pg_stat_activity afresh
		return err
	})
	if err != nil {
		return 0, err
	}
	return h, nil
}

// Horizon is the horizon of statements (qHorizon), for rows other
// packages keep in commit order with the xid of the transaction that wrote
// them (pg_current_xact_id()): every such row below it is visible now, and
// every row that becomes visible later has an xid at or above it. A reader
// that shows only rows below the horizon, in (xid, id) order, never gains
// a row below one it showed.
func (tx *Tx) Horizon(ctx context.Context) (uint64, error) { return horizon(ctx, tx.Tx) }

// badCursor refuses a cursor that is not one of the statement's.
var badCursor = &fault.Error{Code: fault.Invalid, Message: "cursor must be a next_cursor from an earlier page of this statement",
	Fields: map[string]string{"cursor": "not a cursor of this statement"}}

// hotStatement is a page of a hot account's statement, in (xid, entry)
// order, of the postings whose transactions are below the horizon
// (qHorizon). Such a posting stores no balance after it: that is the sum
// of every posting that sorts below it and its own, or the current balance
// less every posting that sorts above it (including those committed but
// not shown yet), the same in the read's snapshot. The page sums the
// postings above it when there are at most hotAboveAtMost of them (a page
// near the top costs no more than it did when every page summed above);
// past that, the side of its bound with fewer transactions, as the
// account's least and greatest xids tell, so that a page deep in a long
// statement does not read all that is above it. Xids count the whole
// cluster's transactions, not the account's postings: an account busy
// long ago and quiet since can make the side below look the smaller when
// it is not (helper-152), which the bound on the postings above keeps to
// pages that already read more than hotAboveAtMost.
//
// unsure is true, and nothing else is answered, when the horizon counts a
// transaction pg_stat_activity does not know and this is not the last
// attempt (the caller reads again in a new snapshot).
func hotStatement(ctx context.Context, tx pgx.Tx, account int64, balance decimal.Decimal, before int64, limit int,
	last bool) (_ []StatementLine, _ int64, unsure bool, _ error) {
	// The horizon, and the cursor posting's (xid, entry): the account's
	// posting in the entry the cursor names (negated), by the primary key.
	if before > 0 {
		return nil, 0, false, badCursor // a posting id: a cursor of an account that may not go negative, or from before 0040
	}
	var horizon, xid, lo, hi uint64 // xid8 values
	var entry *int64
	if err := tx.QueryRow(ctx, `SELECT `+qHorizon+`, `+qHorizonUnsure+`, coalesce(c.xid, '0'), c.entry_id, `+qHotEnds+`
FROM (SELECT NULL) AS one LEFT JOIN (`+qHotCursor+`) c ON true`, account, -before).Scan(&horizon, &unsure, &xid, &entry, &lo, &hi); err != nil {
		return nil, 0, false, err
	}
	if unsure && !last {
		return nil, 0, true, nil
	}
	// The page's bound in (xid, entry) order: the first page's is (the
	// horizon, 0), below which is every posting below the horizon (an
	// entry id is never 0); a later page's is its cursor posting, and the
	// page is every posting below it, whatever this read's horizon. The
	// cursor was below the horizon of the page that showed it, so every
	// posting below it had committed then. This read's horizon may be
	// lower: it moves back when a transaction of another database that an
	// earlier read did not count is then prepared (PREPARE TRANSACTION:
	// pg_stat_activity no longer knows it), or ends between this read's
	// snapshot and its read of pg_stat_activity on the last unsure
	// attempt. Kept below it too, the page skipped the postings between
	// (TestPlatformStatementPageIsCompleteWhenTheHorizonMovesBack).
	boundXID, boundEntry := horizon, int64(0)
	if before != 0 {
		if entry == nil {
			return nil, 0, false, badCursor
		}
		boundXID, boundEntry = xid, *entry
	}
	rows, err := tx.Query(ctx, qHotStatementPage, account, boundXID, boundEntry, limit+1)
	if err != nil {
		return nil, 0, false, err
	}
	lines, err := pgx.CollectRows(rows, scanStatementLine)
	if err != nil {
		return nil, 0, false, err
	}
	for i := range lines {
		lines[i].Cursor = -lines[i].EntryID
	}
	var next int64
	if len(lines) > limit {
		lines = lines[:limit]
		next = lines[limit-1].Cursor
	}
	if len(lines) == 0 {
		return lines, 0, false, nil
	}
	// The postings that sort above the page: the cursor's and those above
	// it (for the first page, those not shown yet); or, when there are
	// many and fewer transactions wrote below the bound, those below it,
	// the page's and older.
	var after, newer decimal.Decimal
	var n int
	if err := tx.QueryRow(ctx, qHotStatementAboveAtMost, account, boundXID, boundEntry, hotAboveAtMost+1).Scan(&n, &newer); err != nil {
		return nil, 0, false, err
	}
	switch below, above := sat(boundXID, lo), sat(hi, boundXID); {
	case n <= hotAboveAtMost:
		after = balance.Sub(newer)
	case below < above:
		if err := tx.QueryRow(ctx, qHotStatementBelow, account, boundXID, boundEntry).Scan(&after); err != nil {
			return nil, 0, false, err
		}
	default:
		if err := tx.QueryRow(ctx, qHotStatementAbove, account, boundXID, boundEntry).Scan(&newer); err != nil {
			return nil, 0, false, err
		}
		after = balance.Sub(newer)
	}
	for i := range lines {
		lines[i].BalanceAfter = after
		after = after.Sub(lines[i].Amount)
	}
	return lines, next, false, nil
}

// hotAboveAtMost is how many postings above a hot account's page it sums
// before it weighs which side of it to sum (hotStatement).
var hotAboveAtMost = 2000

// sat is a - b, or 0 when b is above a.
func sat(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// Entry returns the entry with its postings.
//
// Errors: fault.NotFound.
func (l *Ledger) Entry(ctx context.Context, id int64) (*Entry, error) {
	var e *Entry
	err := l.inTx(ctx, readOnly, func(tx pgx.Tx) error {
		var err error
		e, err = l.entry(ctx, tx, id)
		return err
	})
	return e, err
}

func (l *Ledger) entry(ctx context.Context, tx pgx.Tx, id int64) (*Entry, error) {
	var e Entry
	err := tx.QueryRow(ctx, `SELECT e.id, e.kind, e.effective_at, e.recorded_at, e.idempotency_key, e.metadata,
       e.actor, e.reason, e.reversal_of, r.id, e.rule_version
FROM entries e LEFT JOIN entries r ON r.reversal_of = e.id
WHERE e.id = $1`, id).Scan(&e.ID, &e.Kind, &e.EffectiveAt, &e.RecordedAt, &e.IdempotencyKey, &e.Metadata,
		&e.Actor, &e.Reason, &e.ReversalOf, &e.ReversedBy, &e.RuleVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fault.Errorf(fault.NotFound, "no entry %d", id)
	}
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT p.id, a.code, p.asset, p.amount, p.balance_after
FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE p.entry_id = $1 ORDER BY p.id`, id)
	if err != nil {
		return nil, err
	}
	e.Postings, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Posting, error) {
		var p Posting
		err := row.Scan(&p.ID, &p.Account, &p.Asset, &p.Amount, &p.BalanceAfter)
		return p, err
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// AccountsEntry is an entry as a statement of several accounts shows it:
// its postings on those accounts only, in account code order.
type AccountsEntry struct {
	ID          int64
	Kind        string
	EffectiveAt time.Time
	RecordedAt  time.Time
	Metadata    json.RawMessage
	Reason      string
	Postings    []Posting
}

// qAccountsStatement is AccountsStatement's page: each account's newest
// entries from its own index (account_id, xid, entry_id), then merged,
// never a walk over everyone's postings. A page ends above its bound, the
// cursor's posting ($2), or the horizon ($4) on the first page ($2 = 0):
// one condition on the index's columns whatever the page, so that a
// generic plan (pages run in InTxGeneric) starts each account's index scan
// at the bound, where "$2 = 0 OR (xid, entry_id) < cursor" could only be
// tested row by row, from the newest. A cursor not of these accounts has
// no bound: the page is empty. A later page is every entry below its
// cursor, not also below this read's horizon: the cursor was below the
// horizon of the page that showed it, so everything below it had
// committed then, and this read's horizon may have moved back below it
// (see hotStatement), which skipped those entries.
const qAccountsStatement = `WITH accts AS (SELECT id FROM accounts WHERE code = ANY($1)),
bound AS (
    SELECT p.xid, p.entry_id FROM postings p WHERE p.entry_id = $2 AND p.account_id IN (SELECT id FROM accts)
    UNION ALL SELECT $4::xid8, 0 WHERE $2 = 0
    LIMIT 1),
ids AS (
    SELECT DISTINCT x.xid, x.entry_id FROM accts CROSS JOIN LATERAL (
        SELECT p.xid, p.entry_id FROM postings p
        WHERE p.account_id = accts.id AND (p.xid, p.entry_id) < (SELECT b.xid, b.entry_id FROM bound b)
        ORDER BY p.xid DESC, p.entry_id DESC LIMIT $3) x
    ORDER BY x.xid DESC, x.entry_id DESC LIMIT $3)
SELECT e.id, e.kind, e.effective_at, e.recorded_at, e.metadata, e.reason, a.code, p.id, p.asset, p.amount, p.balance_after
FROM ids JOIN entries e ON e.id = ids.entry_id
JOIN postings p ON p.entry_id = e.id AND p.account_id IN (SELECT id FROM accts)
JOIN accounts a ON a.id = p.account_id
ORDER BY ids.xid DESC, ids.entry_id DESC, a.code`

// AccountsStatement lists the entries that moved any of the accounts,
// newest first, limit at a time. before is the keyset cursor, an entry id
// (0 for the first page; then the previous page's next): pages never shift
// or repeat when entries are posted meanwhile. next is 0 on the last page.
// A posting's BalanceAfter is set on accounts that may not go negative (the
// balance they hold after it), nil on the others.
//
// The accounts are locked one by one, so entries on different ones may
// commit in another order than their ids: entries are ordered by the
// transaction that wrote them, then id, and a page shows only those below
// the horizon (qHorizon). A reader that pages down from the top, and later
// again from the top down to where it began before, sees each entry once.
//
// Errors: fault.Invalid (before is not an entry of the accounts).
func (tx *Tx) AccountsStatement(ctx context.Context, codes []string, before int64, limit int) (entries []AccountsEntry, next int64, err error) {
	h, err := horizon(ctx, tx)
	if err != nil {
		return nil, 0, err
	}
	rows, err := tx.Query(ctx, qAccountsStatement, codes, before, limit+1, h)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var e AccountsEntry
		var p Posting
		// Metadata as bytes: pgx would run a *json.RawMessage through
		// json.Unmarshal, a check of what jsonb holds valid.
		if err := rows.Scan(&e.ID, &e.Kind, &e.EffectiveAt, &e.RecordedAt, (*[]byte)(&e.Metadata), &e.Reason, &p.Account, &p.ID, &p.Asset,
			&p.Amount, &p.BalanceAfter); err != nil {
			return nil, 0, err
		}
		if n := len(entries); n == 0 || entries[n-1].ID != e.ID {
			entries = append(entries, e)
		}
		last := &entries[len(entries)-1]
		last.Postings = append(last.Postings, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if before != 0 && len(entries) == 0 { // the last page, or a cursor not of these accounts
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE p.entry_id = $2 AND a.code = ANY($1))`, codes, before).Scan(&known); err != nil {
			return nil, 0, err
		}
		if !known {
			return nil, 0, badCursor
		}
	}
	if len(entries) > limit {
		entries = entries[:limit]
		next = entries[limit-1].ID
	}
	return entries, next, nil
}
