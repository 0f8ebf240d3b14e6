// Package loyalty runs the loyalty programme on the ledger: customers and
// their referrers, versioned rule sets, campaigns, partner events
// (shipments, refunds, feedback) turned into balanced entries each exactly
// once, points expiry, and what a customer reads of it all (profile,
// balances, statement, points expiring). It also answers the packages above
// it (catalog, prepaid, finance) what they need of a customer: a lock on
// them, their tier, the rules in effect, their ranked contributions.
//
// It owns the customers, customer_months, rule_sets, campaigns, events,
// shipments and referral_bonuses tables and their SQL, which it runs on its
// own pool and in ledger transactions, so that an event's rows and its
// entry commit together. It reads and writes the books only through the
// ledger's operations and never names the ledger's tables; it never names
// the tables of the catalogue or of prepaid money and never imports the
// packages above it. The rules of earning, tiers and expiry are the pure
// rules package's: loyalty loads their inputs and records their outcomes.
package loyalty

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/coalesce"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/rules"
)

// Service is the loyalty programme. It is safe for concurrent use.
type Service struct {
	db     *pgxpool.Pool // the loyalty tables, outside ledger transactions
	ledger *ledger.Ledger
	now    func() time.Time

	mu              sync.Mutex
	versions        map[int]rules.RuleSet // parsed rule sets; a version never changes
	cachedSchedule  []scheduled
	scheduleExpires time.Time

	events       *coalesce.Coalescer[job, Outcome] // partner events, written in groups
	eventWriters int

	stats Stats

	// groupedFault, when set (by tests), runs as each run of shipments
	// is completed by the group loader: a stand-in for a bug there.
	groupedFault func()
	// noticeMarkRead, when set (by tests), runs as a notice job has read
	// its mark: where two runs at once both find the work still to do.
	noticeMarkRead func(job string)
}

// Stats counts what the service did since it started; read it for metrics.
type Stats struct {
	// Fallbacks counts the groups of events whose grouped write failed and
	// that were written again event by event.
	Fallbacks atomic.Int64
	// Groups counts the groups of events written, each one transaction
	// (a fallback's included), and GroupedEvents the events in them:
	// GroupedEvents / Groups is the mean group, what one commit carries.
	Groups, GroupedEvents atomic.Int64
}

// Stats returns the service's counters.
func (s *Service) Stats() *Stats { return &s.stats }

// Option configures a Service.
type Option func(*Service)

// WithEventWriters sets how many groups of events are written at once
// (default 2), each for its own share of the customers: one group can be
// priced while another waits for its commit.
func WithEventWriters(n int) Option {
	return func(s *Service) {
		if n > 0 {
			s.eventWriters = n
		}
	}
}

// New returns the service on the ledger, on the ledger's clock. db is the
// pool of the same (migrated) database, for the loyalty tables: the ledger
// lends no access to its own.
func New(db *pgxpool.Pool, l *ledger.Ledger, opts ...Option) *Service {
	s := &Service{db: db, ledger: l, now: l.Now, versions: map[int]rules.RuleSet{}, eventWriters: DefaultEventWriters}
	for _, o := range opts {
		o(s)
	}
	s.events = s.newEventQueue()
	return s
}

// Owns reports whether entries of the kind are written by loyalty's own
// flows (partner events, settlements of points owed, expiry and its undo), whose rows (shipments, months, bonuses)
// a bare ledger reversal would leave behind: they are corrected through
// their own flow (a refund event), never reversed by hand.
func Owns(kind string) bool {
	switch kind {
	case ShipmentCompleted, ShipmentRefunded, FeedbackSubmitted, KindSettlement, "expiry", KindExpiryUndone:
		return true
	}
	return false
}

// ClockSkew is how far ahead of the server's clock the instant a partner
// says something happened (an event's or a money movement's occurred_at)
// may be.
const ClockSkew = clockSkew

// ValidShipmentID reports whether id is a well-formed shipment id: 1 to 64
// letters, digits, '_', '.', ':' or '-'.
func ValidShipmentID(id string) bool { return shipmentIDBytes.Match(id, 1, 64) }
