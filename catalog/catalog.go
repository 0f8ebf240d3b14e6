// Package catalog runs the points catalogue: products (standard, level,
// featured), which of them a customer may redeem now and why not, and
// redemptions and their cancellation.
//
// It owns the products and redemptions tables and their SQL. It reads a
// customer and their tier through loyalty, locks the customer through
// loyalty before it writes, reads available points from the ledger's lots,
// and moves points only by posting entries through the ledger (which draws
// on and restores the lots). Concurrent redemptions are made in groups
// (groups.go): one transaction for those that queued meanwhile, made
// together in a fixed number of round trips (together.go), or, for a group
// with a retry in it, each in a savepoint of its own. It never names a
// table of loyalty, prepaid or the
// ledger, and it never prices a partner event.
package catalog

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Entry kinds the catalogue posts.
const (
	KindRedemption = "redemption"
	KindCancelled  = "redemption.cancelled"
)

// Service is the catalogue. It is safe for concurrent use.
type Service struct {
	db        *pgxpool.Pool // the catalogue's tables, outside ledger transactions
	ledger    *ledger.Ledger
	customers *loyalty.Service
	// redemptions are made in groups (groups.go)
	redemptions *coalesce.Coalescer[redeemJob, redeemResult]
	stats       Stats
	// beforeLocks, for tests, runs in a group's transaction before it
	// locks its customers; afterRestamp in a redemption's (redeemTx) once
	// it is dated.
	beforeLocks, afterRestamp func()
}

// New returns the catalogue on the ledger; db is the pool of the same
// (migrated) database, customers the loyalty programme it serves.
func New(db *pgxpool.Pool, l *ledger.Ledger, customers *loyalty.Service) *Service {
	s := &Service{db: db, ledger: l, customers: customers}
	s.redemptions = s.newRedemptionQueue()
	return s
}

// Owns reports whether entries of the kind are the catalogue's: a
// redemption or its cancellation, corrected by cancelling the redemption
// (which restores the stock and the lots), never reversed by hand.
func Owns(kind string) bool { return kind == KindRedemption || kind == KindCancelled }
