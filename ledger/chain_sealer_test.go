package ledger_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// The sealer reports each pass that fails while its context lives, and
// carries on; a pass that fails because its context ended is the
// shutdown, not a failure, and is not reported. Every pass here fails
// (the pool refuses each connection it hands out), and the context ends
// inside the third pass: two failures reported, then RunSealer returns.
func TestRunSealerReportsFailuresWhileItsContextLivesAndNoneAfter(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	refused := errors.New("connection refused by the test")
	var passes atomic.Int64 // each pass of the sealer takes one connection
	cfg.PrepareConn = func(context.Context, *pgx.Conn) (bool, error) {
		if passes.Add(1) == 3 {
			cancel()
		}
		return true, refused
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l := ledger.New(pool)

	type report struct {
		err       error
		ctxEnded  bool
		afterPass int64
	}
	var reports []report
	l.RunSealer(ctx, time.Millisecond, func(err error) {
		reports = append(reports, report{err, ctx.Err() != nil, passes.Load()})
	})
	if got := passes.Load(); got != 3 {
		t.Errorf("RunSealer made %d passes, want 3 (it stops once its context ends)", got)
	}
	for i, r := range reports {
		t.Logf("report %d: %v, in pass %d, context ended %v", i+1, r.err, r.afterPass, r.ctxEnded)
	}
	if len(reports) != 2 {
		t.Fatalf("%d failures reported, want 2: passes 1 and 2, not the one the context ended", len(reports))
	}
	for i, r := range reports {
		if !errors.Is(r.err, refused) || r.ctxEnded || r.afterPass != int64(i+1) {
			t.Errorf("report %d: %v in pass %d, context ended %v; want the refusal of pass %d, reported while the context lived",
				i+1, r.err, r.afterPass, r.ctxEnded, i+1)
		}
	}
}
