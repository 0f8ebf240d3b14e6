package testdb

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Statements counts what a pool sends PostgreSQL while it measures: round
// trips (a statement alone, or a pipelined batch of them) and statements.
type Statements struct {
	mu               sync.Mutex
	on               bool
	roundTrips, sent int
}

// CountedPool is Pool, its statements counted by the Statements returned.
func CountedPool(tb testing.TB) (*pgxpool.Pool, *Statements) {
	tb.Helper()
	s := &Statements{}
	return pool(tb, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = s }), s
}

// Measure is the round trips and statements fn sends.
func (s *Statements) Measure(fn func()) (roundTrips, sent int) {
	s.mu.Lock()
	s.on, s.roundTrips, s.sent = true, 0, 0
	s.mu.Unlock()
	fn()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = false
	return s.roundTrips, s.sent
}

func (s *Statements) count(trips, stmts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		s.roundTrips += trips
		s.sent += stmts
	}
}

// TraceQueryStart counts a statement sent alone (pgx.QueryTracer).
func (s *Statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	s.count(1, 1)
	return ctx
}

// TraceQueryEnd is pgx.QueryTracer's.
func (s *Statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart counts a batch's round trip (pgx.BatchTracer).
func (s *Statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	s.count(1, 0)
	return ctx
}

// TraceBatchQuery counts a statement of a batch.
func (s *Statements) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	s.count(0, 1)
}

// TraceBatchEnd is pgx.BatchTracer's.
func (s *Statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
