package replica

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/internal/testdb"
)

// streamingStandby starts a cluster of the test's own in .data/<name> and
// a streaming standby of it, and answers the URLs of their databases
// "tally".
func streamingStandby(t *testing.T, name string) (primary, standby string) {
	t.Helper()
	c, primary := testdb.OwnCluster(t, name, pgdev.Options{Fast: true}, false)
	return primary, testdb.OwnStandby(t, c)
}

// TestTheWatchGoesOnWhileThePrimaryCannotBeRead: the primary's pool is
// exhausted (its one connection held), so the watch cannot read the
// primary's position. Each refresh still ends, within its deadline, and
// the standby's lag, unknown meanwhile, grows from the last time the
// primary was read: once past the bound the standby serves no read
// without a token (it could be any distance behind), and still serves a
// read with a token it has replayed; it is back in rotation once the
// primary answers.
func TestTheWatchGoesOnWhileThePrimaryCannotBeRead(t *testing.T) {
	ctx := context.Background()
	primaryURL, standbyURL := streamingStandby(t, "pgwatch")
	cfg, err := pgxpool.ParseConfig(primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	primary, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	standby, err := pgxpool.New(ctx, standbyURL)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close()
	const maxLag = 500 * time.Millisecond
	s := New(primary, []*pgxpool.Pool{standby}, maxLag, 0)
	n := s.Nodes[0]

	// A write, and its token, replayed by the standby.
	if _, err := primary.Exec(ctx, `CREATE TABLE watched (n int); INSERT INTO watched VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	token, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s.Refresh(ctx)
		n.mu.Lock()
		replay := n.replay
		n.mu.Unlock()
		if replay >= token {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby does not replay the write")
		}
	}
	if st := s.Statuses()[0]; !st.InRotation || st.LagSeconds != 0 {
		t.Fatalf("standby caught up: %+v, want in rotation, lag 0", st)
	}

	// The primary's pool exhausted.
	held, err := primary.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		rctx, cancel := context.WithTimeout(ctx, 3*RefreshTimeout)
		start := time.Now()
		s.Refresh(rctx)
		took := time.Since(start)
		cancel()
		if took > 2*RefreshTimeout {
			held.Release()
			t.Fatalf("refresh %d with the primary unreadable took %s, want at most %s", i+1, took.Round(time.Millisecond), 2*RefreshTimeout)
		}
	}
	st := s.Statuses()[0]
	if st.InRotation || st.LagSeconds < maxLag.Seconds() || !strings.Contains(st.Error, "lag unknown") {
		t.Errorf("primary unread for %s: %+v, want out of rotation, lag at least the bound, lag unknown", 2*RefreshTimeout, st)
	}
	if got := s.Choose(ctx, 0); got != nil {
		t.Errorf("a read without a token was given the standby, whose lag is unknown")
	}
	if got := s.Choose(ctx, token); got != n {
		t.Errorf("a read with a token the standby replayed was not given it")
	}

	held.Release()
	s.Refresh(ctx)
	if st := s.Statuses()[0]; !st.InRotation || st.Error != "" {
		t.Errorf("primary answering again: %+v, want in rotation", st)
	}
	if got := s.Choose(ctx, 0); got != n {
		t.Errorf("a read without a token was not given the standby back in rotation")
	}
}

// pausedStandby starts a cluster of the test's own in .data/<name> and a
// streaming standby of it whose replay is paused (resumed when the test
// ends), and answers a Set of them waiting up to wait, the token of a
// write the standby has not replayed, and the standby's pool.
func pausedStandby(t *testing.T, name string, wait time.Duration) (*Set, uint64, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	primaryURL, standbyURL := streamingStandby(t, name)
	primary, err := pgxpool.New(ctx, primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(primary.Close)
	standby, err := pgxpool.New(ctx, standbyURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Close)
	s := New(primary, []*pgxpool.Pool{standby}, time.Hour, wait)
	if _, err := standby.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { standby.Exec(context.Background(), `SELECT pg_wal_replay_resume()`) })
	if _, err := primary.Exec(ctx, `CREATE TABLE paused (n int); INSERT INTO paused VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	token, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Refresh(ctx)
	if !s.Statuses()[0].InRotation {
		t.Fatalf("standby not in rotation: %+v", s.Statuses()[0])
	}
	return s, token, standby
}

// TestAWaitingReadPollsTheStandbyWithBackoff: a read with a token the
// standby has not replayed (its replay paused) waits Wait (250 ms, the
// default) and is then the primary's. Meanwhile it reads the standby's
// position after pauses that double from 1 ms to 16 ms: about 20 reads,
// where a read every 5 ms made about 50.
func TestAWaitingReadPollsTheStandbyWithBackoff(t *testing.T) {
	ctx := context.Background()
	const wait = 250 * time.Millisecond
	s, token, _ := pausedStandby(t, "pgpoll", wait)
	const reads = 4
	var total int64
	for range reads {
		before := s.polls.Load()
		start := time.Now()
		if n := s.Choose(ctx, token); n != nil {
			t.Fatal("a standby whose replay is paused was given a read past it")
		}
		if took := time.Since(start); took < wait {
			t.Fatalf("the read waited %s, want Wait, %s", took, wait)
		}
		total += s.polls.Load() - before
	}
	perRead := float64(total) / reads
	t.Logf("reads of the standby's position per waiting read (Wait %s): %.1f", wait, perRead)
	if perRead > 25 {
		t.Errorf("%.1f reads of the standby's position per waiting read, want at most 25", perRead)
	}
}

// TestWaitingReadsShareTheirReadsOfTheStandby: 32 reads wait at once for a
// standby whose replay is paused. They share each read of its position (one
// query at a time, however many wait): together they read it about as often
// as one waiting read does, not 32 times as often. Once replay resumes, every
// one of them is served by the standby.
func TestWaitingReadsShareTheirReadsOfTheStandby(t *testing.T) {
	ctx := context.Background()
	s, token, standby := pausedStandby(t, "pgshare", 250*time.Millisecond)
	choose := func(readers int) (served int, polls int64) {
		before := s.polls.Load()
		var wg sync.WaitGroup
		var n atomic.Int64
		for range readers {
			wg.Go(func() {
				if s.Choose(ctx, token) != nil {
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return int(n.Load()), s.polls.Load() - before
	}
	_, one := choose(1)
	served, all := choose(32)
	t.Logf("reads of the standby's position: %d for one waiting read, %d for 32 at once", one, all)
	if served != 0 {
		t.Fatalf("%d reads given to a standby whose replay is paused", served)
	}
	if all > 8*one { // each asking its own: 32 times one
		t.Errorf("32 waiting reads read the standby's position %d times, one alone %d: want them to share", all, one)
	}
	if _, err := standby.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	if served, _ := choose(32); served != 32 {
		t.Errorf("%d of 32 waiting reads served by the standby once it replayed their position", served)
	}
}
