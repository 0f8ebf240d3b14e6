// Package ledger is Tally's double-entry ledger on PostgreSQL: accounts,
// append-only entries whose postings balance per asset, stored balances,
// points lots, idempotent posting, reversals, statements, reports and
// reconciliation.
//
// It alone names its tables (accounts, entries, postings, balance_buckets,
// points_lots, lot_draws, and the API keys): other packages read and write
// the books through its operations, and a Tx lets them commit their own
// rows with the entries they post. It knows nothing of HTTP or of loyalty
// rules: callers hand it balanced entries and it records them exactly once
// or not at all. It must never update or delete an entry or a posting.
package ledger

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
)

// DefaultHotBuckets is how many balance rows a hot account is spread over.
const DefaultHotBuckets = 32

// Ledger records entries and answers balances. It is safe for concurrent use.
type Ledger struct {
	pool    *pgxpool.Pool
	buckets int
	now     func() time.Time

	// known remembers account codes that exist in the database, a bounded
	// number of them (knownAccounts).
	known *knownAccounts
	// codes remembers account codes by id for the sealer (accountCodes).
	codes *accountCodes

	revokedMu sync.Mutex
	onRevoked []func(id int64) // OnKeyRevoked's

	stats Stats

	previews turns // Preview's waiting line

	afterFiguresRead func() // tests: runs between a close's read of its figures and its lock

	standby bool // OnStandby: transient failures are not retried
}

// Stats counts what the ledger did since it started; read it for metrics.
type Stats struct {
	Posted   atomic.Int64 // entries committed
	Replayed atomic.Int64 // idempotent replays answered
	Retries  atomic.Int64 // transactions retried after a serialization failure or deadlock
	// NoticeRetries counts the transactions retried so that a customer's
	// notifications follow the order they committed in
	// (fault.NoticesOutOfOrder), apart from Retries.
	NoticeRetries atomic.Int64
	// ClosesReadUnderLock counts the closes that read their figures
	// holding writers back: one that found its month closable only once
	// it held its lock, or on books from another cluster whose transaction
	// ids this one reached while the close read.
	ClosesReadUnderLock atomic.Int64
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithHotBuckets sets how many balance rows each hot account is spread over;
// 1 makes every entry queue on one row per platform account (the benchmark's
// baseline).
func WithHotBuckets(n int) Option {
	return func(l *Ledger) {
		if n > 0 {
			l.buckets = n
		}
	}
}

// WithClock sets the ledger's clock (tests set time). A transaction reads
// it once, when it begins (Tx.Now): the entries it posts are recorded at
// that instant, the lots they create become available at it, the lots a
// debit draws on are those available and unexpired at it, and its callers
// decide by it.
func WithClock(now func() time.Time) Option {
	return func(l *Ledger) {
		if now != nil {
			l.now = now
		}
	}
}

// OnStandby makes a ledger on a standby's pool (reads only) return a
// serialization failure or a deadlock at once instead of retrying it. On
// a standby these are recovery conflicts (fault.RecoveryConflict): the
// standby raised it after holding its replay back for up to
// max_standby_streaming_delay for the query, and the same standby may
// well do it again; the caller (package api) has the primary answer the
// read instead.
func OnStandby() Option {
	return func(l *Ledger) { l.standby = true }
}

// Now is the ledger's clock, for work outside a transaction; inside one,
// Tx.Now is the instant it began.
func (l *Ledger) Now() time.Time { return l.now() }

// New returns a Ledger on the pool, whose database must be migrated.
func New(pool *pgxpool.Pool, opts ...Option) *Ledger {
	l := &Ledger{pool: pool, buckets: DefaultHotBuckets, now: time.Now, known: newKnownAccounts(DefaultKnownAccounts),
		codes: newAccountCodes(sealCodes)}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Stats returns the ledger's counters.
func (l *Ledger) Stats() *Stats { return &l.stats }

// Account is an account with its current balance.
type Account struct {
	Code          string          `json:"code"`
	Asset         Asset           `json:"asset"`
	AllowNegative bool            `json:"allow_negative"`
	Balance       decimal.Decimal `json:"balance"`
	CreatedAt     time.Time       `json:"created_at"`
}

// Entry is a recorded movement: postings that balance per asset.
type Entry struct {
	ID             int64           `json:"id"`
	Kind           string          `json:"kind"`
	EffectiveAt    time.Time       `json:"effective_at"`
	RecordedAt     time.Time       `json:"recorded_at"`
	IdempotencyKey *string         `json:"-"`
	Metadata       json.RawMessage `json:"metadata"`
	Actor          string          `json:"actor"`
	Reason         string          `json:"reason"`
	ReversalOf     *int64          `json:"reversal_of"`
	ReversedBy     *int64          `json:"reversed_by"`
	RuleVersion    *int            `json:"rule_version"`
	Postings       []Posting       `json:"postings"`
}

// Posting is one line of an entry. A positive amount credits the account (a
// customer's balance grows), a negative one debits it.
type Posting struct {
	ID      int64           `json:"id"`
	Account string          `json:"account"`
	Asset   Asset           `json:"asset"`
	Amount  decimal.Decimal `json:"amount"`
	// BalanceAfter is the account's balance right after this posting; it is
	// exact and fixed for accounts that may not go negative, and derived on
	// read for hot (platform) accounts.
	BalanceAfter *decimal.Decimal `json:"balance_after,omitempty"`
}

// inTx runs fn in a transaction with the given options, retrying it whole on
// a serialization failure or a deadlock, which callers never see.
func (l *Ledger) inTx(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	return l.retry(ctx, func() error {
		return pgx.BeginTxFunc(ctx, l.pool, opts, fn)
	})
}

// retry runs fn again while it fails with a transient PostgreSQL error
// (on a primary: OnStandby's ledger returns it).
func (l *Ledger) retry(ctx context.Context, fn func() error) error {
	const maxAttempts = 20
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !fault.Transient(err) || attempt == maxAttempts || l.standby {
			return err
		}
		if fault.NoticesOutOfOrder(err) {
			l.stats.NoticeRetries.Add(1)
		} else {
			l.stats.Retries.Add(1)
		}
		// Jittered backoff, so that the transactions that collided do not
		// collide again.
		backoff := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}
