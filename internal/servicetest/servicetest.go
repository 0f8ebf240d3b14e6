// Package servicetest builds Tally's services over one test database for
// the tests of the domain packages (catalog, finance, loyalty, prepaid): a
// settable clock, the ledger on it, every service, a partner key, and the
// helpers those tests share (customers, events, deposits, redemptions, the
// books' checks). Only _test.go files import it: it imports every domain
// package, so a domain package importing it would be a cycle, and it fails
// tests rather than returning errors.
package servicetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// Shanghai is the time zone the tests' instants are written in.
var Shanghai, _ = time.LoadLocation("Asia/Shanghai")

// March is 2026-03-day hour:00 in Shanghai, the month the tests live in.
func March(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, Shanghai) }

// Start is where an Env's clock stands when the test begins.
var Start = March(15, 12)

// D is the decimal s, which must be one.
func D(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// Clock is the ledger's now, set by the test. A ticking clock moves on by
// its step each time it is read, so that two reads never agree.
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

// NewClock is a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// TickingClock is a clock that reads start+step first, then moves on by
// step at each read.
func TickingClock(start time.Time, step time.Duration) *Clock {
	return &Clock{t: start, step: step}
}

// Now is the clock's instant (a ticking clock moves on first).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// Set puts the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Env is one test's database with every service on it.
type Env struct {
	T       *testing.T
	Ctx     context.Context
	Pool    *pgxpool.Pool
	Clock   *Clock
	Ledger  *ledger.Ledger
	Loyalty *loyalty.Service
	Catalog *catalog.Service
	Prepaid *prepaid.Service
	Finance *finance.Service
	// Key is the partner key events are sent as (the first key of a
	// partner of its own); KeyID is its id.
	Key   ledger.APIKey
	KeyID int64
	// Send is the path events take to the programme: Loyalty.ProcessBatch
	// unless the test sets another.
	Send func(ctx context.Context, key ledger.APIKey, actor string, events []loyalty.Event) []loyalty.Outcome

	seq atomic.Int64
}

// Config says what an Env is built on; its zero value is New's.
type Config struct {
	// Pool is the database (default: a fresh one from testdb.Pool).
	Pool *pgxpool.Pool
	// Clock is the ledger's clock (default: one standing at Start).
	Clock *Clock
	// Loyalty are the loyalty programme's options.
	Loyalty []loyalty.Option
}

// New is a fresh database with every service on it, a partner key, and the
// clock at 2026-03-15 12:00 Shanghai.
func New(t *testing.T) *Env { return NewWith(t, Config{}) }

// NewTicking is New on a clock that moves on a second each time it is
// read, from Start: what one transaction writes must bear one instant.
func NewTicking(t *testing.T) *Env {
	return NewWith(t, Config{Clock: TickingClock(Start, time.Second)})
}

// NewWith is New on what cfg names.
func NewWith(t *testing.T, cfg Config) *Env {
	t.Helper()
	if cfg.Pool == nil {
		cfg.Pool = testdb.Pool(t)
	}
	if cfg.Clock == nil {
		cfg.Clock = NewClock(Start)
	}
	l := ledger.New(cfg.Pool, ledger.WithClock(cfg.Clock.Now))
	customers := loyalty.New(cfg.Pool, l, cfg.Loyalty...)
	money := prepaid.New(l, customers)
	e := &Env{T: t, Ctx: context.Background(), Pool: cfg.Pool, Clock: cfg.Clock, Ledger: l, Loyalty: customers,
		Catalog: catalog.New(cfg.Pool, l, customers), Prepaid: money, Finance: finance.New(l, customers, money),
		Send: customers.ProcessBatch}
	_, k, err := l.CreateKey(e.Ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	e.Key, e.KeyID = k, k.ID
	return e
}

// BreaksBooks spares the test's database the books check: the test breaks
// its books on purpose, to see reconciliation find it.
func (e *Env) BreaksBooks(why string) { testdb.SkipBooks(e.T, why) }
