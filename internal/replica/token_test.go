package replica

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestTokenCoversTheCallersCommitAndIsShared: many writers commit and ask
// for a token at once, as every successful write does. Each token is at
// or past the WAL its own commit flushed (a read that began before the
// call must not answer it), and the writers share reads: fewer reads of
// the primary than tokens.
func TestTokenCoversTheCallersCommitAndIsShared(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE token_writes (n int)`); err != nil {
		t.Fatal(err)
	}
	s := New(pool, nil, 0, 0)
	const writers, rounds = 24, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				var text string
				// The write commits, then its own flushed position is read:
				// the commit is at or before it.
				if _, err := pool.Exec(ctx, `INSERT INTO token_writes VALUES ($1)`, w*rounds+i); err != nil {
					errs <- err
					return
				}
				if err := pool.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text`).Scan(&text); err != nil {
					errs <- err
					return
				}
				own, err := ParseLSN(text)
				if err != nil {
					errs <- err
					return
				}
				tok, err := s.Token(ctx)
				if err != nil {
					errs <- err
					return
				}
				if tok < own {
					t.Errorf("writer %d, round %d: token %s is short of its commit's flushed WAL %s", w, i, FormatLSN(tok), FormatLSN(own))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := s.tokens.queries.Load(); n >= writers*rounds {
		t.Errorf("%d reads of the primary for %d tokens: none shared", n, writers*rounds)
	} else {
		t.Logf("%d reads of the primary for %d tokens", n, writers*rounds)
	}
}

// TestTokenCallerStopsWaitingWithItsContext: a call whose context ends
// returns at once, with its context's error.
func TestTokenCallerStopsWaitingWithItsContext(t *testing.T) {
	s := New(testdb.Pool(t), nil, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Token(ctx); err != context.Canceled {
		t.Fatalf("Token with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatalf("Token after a cancelled call: %v", err)
	}
}

// TestTokenNotHeldUpByAReadThatHangs: one read of the primary hangs (a
// pooled connection to a machine that vanished, a stalled server; here a
// PrepareConn hook that blocks until the read's context ends), and the
// primary answers again right after. A write answered then gets its token
// in its own budget, as it did when each call read for itself: a shared
// read that hangs must not hold up the calls made after it started.
func TestTokenNotHeldUpByAReadThatHangs(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testdb.New(t))
	if err != nil {
		t.Fatal(err)
	}
	var stalled atomic.Bool
	stalled.Store(true)
	cfg.PrepareConn = func(ctx context.Context, _ *pgx.Conn) (bool, error) {
		if stalled.Load() {
			<-ctx.Done()
			return false, ctx.Err()
		}
		return true, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := New(pool, nil, 0, 0)
	// The budget api's consistencyToken gives each call.
	const budget = 2 * time.Second
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		_, err := s.Token(ctx)
		first <- err
	}()
	time.Sleep(200 * time.Millisecond) // the first read is in flight, hanging
	stalled.Store(false)               // the primary answers again
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	if _, err := s.Token(ctx); err != nil {
		t.Errorf("Token after the primary answers again: %v after %v (held up by the read that hangs)", err, time.Since(start).Round(time.Millisecond))
	}
	<-first
}

// TestATokenFromTheFutureIsServedByThePrimaryAtOnce: a client's made-up
// token past the primary's position (FFFFFFFF/FFFFFFFF) made every read
// poll the standbys for the whole wait, then read the primary anyway. It
// is now answered at once: no standby, before the wait (an hour here) or
// the caller's context ends. A token the primary has passed still waits
// for a standby, as it may (here none can serve, so until its context).
func TestATokenFromTheFutureIsServedByThePrimaryAtOnce(t *testing.T) {
	pool := testdb.Pool(t)
	s := New(pool, []*pgxpool.Pool{pool}, time.Second, time.Hour) // the "standby" is no standby: never in rotation
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	future, err := ParseLSN("FFFFFFFF/FFFFFFFF")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Choose(ctx, future); n != nil || ctx.Err() != nil {
		t.Errorf("a token from the future: node %v, context %v; want the primary before the context ended", n, ctx.Err())
	}
	cur, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if n := s.Choose(short, cur); n != nil || short.Err() == nil {
		t.Errorf("a token the primary has passed: node %v, context %v; want it to wait for a standby until its context ends", n, short.Err())
	}
}

// TestATokenCheckWaitsNoLongerThanWait: the check of a token against the
// primary's position waits no longer than Wait for a primary that does not
// answer (a listener that accepts and says nothing), where the shared read
// alone would wait TokenTimeout (2 s); the read is then the primary's, as
// before the check.
func TestATokenCheckWaitsNoLongerThanWait(t *testing.T) {
	silent := testdb.SilentPool(t)
	s := New(silent, nil, time.Second, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second) // TokenTimeout is 2 s
	defer cancel()
	token, err := ParseLSN("0/10000")
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Choose(ctx, token); n != nil || ctx.Err() != nil {
		t.Errorf("a token with a silent primary: node %v, context %v; want the primary within Wait, before the context ended", n, ctx.Err())
	}
}
