package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
)

// TestDatabaseLostReadsEveryWayAConnectionEnds has another session end a
// connection while a batch of statements is in flight on it, as a failover
// does, and checks that what each statement of the batch met is read as
// the database lost (a 503 to retry), whatever pgx makes of it: the
// server's notice for the first, and for those after it the closed
// connection (pgconn.ErrConnClosed, which pgx does not call safe to retry:
// the statements may have been sent).
func TestDatabaseLostReadsEveryWayAConnectionEnds(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// A pipeline, as the ledger's transactions send their statements.
	p := conn.Conn().PgConn().StartPipeline(ctx)
	p.SendQueryParams(`SELECT pg_terminate_backend(pg_backend_pid())`, nil, nil, nil, nil)
	p.SendQueryParams(`SELECT 1`, nil, nil, nil, nil)
	p.SendQueryParams(`SELECT 2`, nil, nil, nil, nil)
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	var errs []error
	for range 8 {
		r, err := p.GetResults()
		if rr, ok := r.(*pgconn.ResultReader); ok {
			_, err = rr.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("wrapped: %w", err))
		}
	}
	if err := p.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing: %w", err))
	}
	sawClosed := false
	for i, err := range errs {
		sawClosed = sawClosed || errors.Is(err, pgconn.ErrConnClosed)
		if !fault.DatabaseLost(err) {
			t.Errorf("result %d, %v: not read as the database lost", i, err)
		}
	}
	if !sawClosed {
		t.Errorf("no statement met the closed connection (%v): the test no longer stages it", errs)
	}
	if fault.DatabaseLost(errors.New("conn busy")) || fault.DatabaseLost(context.Canceled) {
		t.Error("errors that are not the database's read as the database lost")
	}
}
