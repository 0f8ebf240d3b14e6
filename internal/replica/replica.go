// Package replica watches the standbys that reads may be served from
// (TALLY_READ_DATABASE_URL) against the primary: how far each has
// replayed the primary's WAL, how far behind it is, and which of them may
// serve a read now, given the consistency token the reader presents.
//
// A token is a position in the primary's WAL (an LSN, as PostgreSQL
// writes it: "0/3000060") taken after a write committed: a standby that
// has replayed that far holds the write. Which services run on which pool
// is the caller's business (package api).
package replica

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Node is one standby and what was last seen of it.
type Node struct {
	Name string // host:port
	Pool *pgxpool.Pool

	mu     sync.Mutex
	up     bool   // answered, in recovery
	replay uint64 // LSN replayed
	// lag is how stale the standby may be: how long ago the primary was
	// past its replay position, or, when no sample of the primary is past
	// it, the age of the primary's newest sample (0 while the primary
	// answers each refresh; growing while it does not: see Refresh).
	lag time.Duration
	// behind is how long ago the primary was where the standby has not
	// replayed yet, as the samples show (0 when none is past it): what
	// is known of its lag without a fresh sample of the primary.
	behind  time.Duration
	lagSize uint64 // bytes of WAL not replayed yet
	err     string

	// polling is the read of the standby's position in flight for
	// waiting reads (Choose), which every one of them waiting meanwhile
	// shares; nil when none is.
	polling *replayRead
}

// replayRead is one read of a standby's replay position.
type replayRead struct {
	done     chan struct{}
	lsn      uint64
	recovery bool
	err      error
}

// Status is a node's state as /readyz and /metrics report it.
type Status struct {
	Name string `json:"name"`
	// InRotation: answering, a standby, and lagging no more than the
	// bound, as a read without a token needs.
	InRotation bool `json:"in_rotation"`
	// LagSeconds is how long ago the primary's WAL was where the
	// standby's replay is now (0 when it has replayed everything seen);
	// while the primary cannot be read, at least how long ago it was
	// last read (the lag is unknown: Refresh).
	LagSeconds float64 `json:"lag_seconds"`
	LagBytes   uint64  `json:"lag_bytes"`
	Error      string  `json:"error,omitempty"`
}

// unreachable is a standby's Status.Error while its reads fail.
const unreachable = "unreachable: the standby did not answer (the server's log has the error)"

// Set is the primary and its standbys.
type Set struct {
	// OnUnreachable, when set, hears a standby's failed read each time
	// the standby stops answering (not at each refresh while it stays
	// so).
	OnUnreachable func(standby string, err error)

	primary *pgxpool.Pool
	Nodes   []*Node
	// MaxLag is the bound beyond which a standby leaves the rotation.
	MaxLag time.Duration
	// Wait is how long a read with a token waits for a standby to replay
	// that far before the primary serves it.
	Wait time.Duration

	mu      sync.Mutex
	born    time.Time // New's: the lag is unknown until the primary answers
	history []sample  // the primary's WAL position over the last MaxLag and more
	next    int       // round robin
	// syncs is how many standbys the primary counts as synchronous
	// (pg_stat_replication's sync or quorum), as last read.
	syncs      int
	syncsKnown bool

	tokens tokenReads
	polls  atomic.Int64 // Choose's reads of a standby's position, for tests
}

// SyncStandbys is how many standbys the primary waits for to acknowledge
// a commit, or could (sync or quorum in its pg_stat_replication), as last
// read; known is false when the primary did not answer. 0 means commits
// are acknowledged from the primary alone (pg_auto_failover's
// wait_primary, or no synchronous replication at all).
func (s *Set) SyncStandbys() (n int, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs, s.syncsKnown
}

type sample struct {
	at  time.Time
	lsn uint64
}

// Split makes one URL per host of a URL that may list several
// (postgres://u@h1:5432,h2:5433/db?...), each with the same user, database
// and parameters.
func Split(raw string) ([]string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, errors.New("not a postgres:// URL with a host")
	}
	var out []string
	for _, h := range strings.Split(u.Host, ",") {
		one := *u
		one.Host = h
		out = append(out, one.String())
	}
	return out, nil
}

// New watches the standbys' pools against the primary's. The caller owns
// the pools.
func New(primary *pgxpool.Pool, standbys []*pgxpool.Pool, maxLag, wait time.Duration) *Set {
	s := &Set{primary: primary, MaxLag: maxLag, Wait: wait, born: time.Now()}
	for _, p := range standbys {
		cc := p.Config().ConnConfig
		s.Nodes = append(s.Nodes, &Node{Name: fmt.Sprintf("%s:%d", cc.Host, cc.Port), Pool: p})
	}
	return s
}

// Watch refreshes what is known of the primary and the standbys every
// interval until ctx ends.
func (s *Set) Watch(ctx context.Context, interval time.Duration) {
	for {
		s.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// RefreshTimeout bounds each read of a refresh: the primary's position,
// then each standby's, so that a refresh ends within twice it.
const RefreshTimeout = 2 * time.Second

// Refresh reads the primary's WAL position and each standby's replay
// position once, each read within RefreshTimeout.
//
// While the primary cannot be read (down, failing over, its pool
// exhausted, its packets dropped), how far a standby lags is unknown: the
// primary may be writing what the standby does not have. The standby's
// lag is then the age of the newest sample of the primary it has
// replayed past (how long nothing is known of it), and once that passes
// MaxLag the standby leaves the rotation for the reads without a token,
// whose staleness it can no longer bound. It goes on serving the reads
// with a token it has replayed (it holds the write the token names, which
// is all such a read asks), unless the samples taken before show it
// behind by more than MaxLag.
func (s *Set) Refresh(ctx context.Context) {
	now := time.Now()
	var text string
	var syncs int
	pctx, cancel := context.WithTimeout(ctx, RefreshTimeout)
	err := s.primary.QueryRow(pctx, `SELECT pg_current_wal_flush_lsn()::text,
		(SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum'))`).Scan(&text, &syncs)
	cancel()
	if err != nil {
		// The time the primary was not answering counts.
		now = time.Now()
	}
	s.mu.Lock()
	s.syncs, s.syncsKnown = syncs, err == nil
	s.mu.Unlock()
	if lsn, err := ParseLSN(text); err == nil {
		s.mu.Lock()
		s.history = append(s.history, sample{now, lsn})
		// Keep what a lag up to twice the bound needs, and one older.
		cut := 0
		for cut < len(s.history)-1 && now.Sub(s.history[cut+1].at) > 2*s.MaxLag {
			cut++
		}
		s.history = s.history[cut:]
		s.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, n := range s.Nodes {
		wg.Go(func() { s.refresh(ctx, n, now) })
	}
	wg.Wait()
}

func (s *Set) refresh(ctx context.Context, n *Node, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, RefreshTimeout)
	defer cancel()
	lsn, recovery, err := replayed(ctx, n.Pool)
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case err != nil:
		// The driver's error names the standby's role, database and
		// address: /readyz, which anyone may read, says only what
		// happened, and OnUnreachable hears the error itself.
		if n.err != unreachable && s.OnUnreachable != nil {
			s.OnUnreachable(n.Name, err)
		}
		n.up, n.err = false, unreachable
		return
	case !recovery:
		if n.up {
			// Promoted: the connections its pool opened as a standby's
			// (target_session_attrs is checked only when connecting) would
			// sit idle on the new primary for pgx's idle time, 30 minutes,
			// up to a pool's size of them. They are closed now.
			n.Pool.Reset()
		}
		n.up, n.err = false, "not a standby (promoted?)"
		return
	}
	n.up, n.err, n.replay = true, "", lsn
	var seen time.Time
	n.lag, n.behind, n.lagSize, seen = s.lagOf(lsn, now)
	if n.lag > s.MaxLag && n.behind <= s.MaxLag {
		if seen.IsZero() {
			n.err = "lag unknown: the primary's WAL position was never read; serving reads with a token only"
		} else {
			n.err = fmt.Sprintf("lag unknown: the primary's WAL position was last read %s ago; serving reads with a token only",
				now.Sub(seen).Round(time.Millisecond))
		}
	}
}

// lagOf is how stale a standby that replayed lsn may be (lag: how long
// ago the primary passed lsn, else the age of its newest sample, or the
// set's when there is none), how long ago the primary was known past lsn
// (behind: 0 when no sample is), how many bytes the newest sample is
// ahead, and when that sample was taken (zero: none).
func (s *Set) lagOf(lsn uint64, now time.Time) (lag, behind time.Duration, size uint64, seen time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.history) == 0 {
		return now.Sub(s.born), 0, 0, time.Time{}
	}
	newest := s.history[len(s.history)-1]
	if newest.lsn > lsn {
		size = newest.lsn - lsn
	}
	for _, h := range s.history {
		if h.lsn > lsn {
			// The standby had not replayed what the primary held at h.at.
			return now.Sub(h.at), now.Sub(h.at), size, newest.at
		}
	}
	// Replayed all the samples show: stale by at most the newest's age.
	return max(now.Sub(newest.at), 0), 0, size, newest.at
}

func replayed(ctx context.Context, p *pgxpool.Pool) (lsn uint64, recovery bool, err error) {
	var text *string
	if err := p.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text`).Scan(&recovery, &text); err != nil {
		return 0, false, err
	}
	if text == nil {
		return 0, recovery, nil
	}
	lsn, err = ParseLSN(*text)
	return lsn, recovery, err
}

// Token is the primary's WAL position now (where its next record will be
// inserted): everything committed before the call is at or before it.
//
// Every successful write asks for one, so concurrent calls share a read:
// a call waits for the next read that starts after it was made (one in
// flight may have started before the caller's commit, and could be short
// of it), and every call waiting then gets that read's answer. Under load
// one read serves the writes of a round trip instead of one each, and the
// writes no longer hold a connection of the pool each for it.
func (s *Set) Token(ctx context.Context) (uint64, error) {
	s.tokens.mu.Lock()
	c := s.tokens.next
	if c == nil {
		c = &tokenRead{done: make(chan struct{})}
		s.tokens.next = c
	}
	if !s.tokens.reading {
		s.tokens.reading = true
		go s.readTokens()
	}
	s.tokens.mu.Unlock()
	select {
	case <-c.done:
		return c.lsn, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// tokenReads are the shared reads of Token: next is the read the calls
// made since the last one started wait for; reading is whether a
// goroutine is starting them (readTokens).
type tokenReads struct {
	mu      sync.Mutex
	next    *tokenRead
	reading bool
	queries atomic.Int64 // reads sent, for tests
}

type tokenRead struct {
	done chan struct{}
	lsn  uint64
	err  error
}

// TokenTimeout bounds one shared read of Token, and is what a caller
// should wait for it at most: a read that outlived every call waiting for
// it would only hold a connection of the pool.
const TokenTimeout = 2 * time.Second

// tokenPatience is how long the calls made during a read wait for it to
// end before their own read starts regardless: a read that hangs (a
// pooled connection to a machine that is gone, a stalled server) holds
// the next one up by this much, not by its whole timeout. A read takes
// well under a millisecond when the primary is well.
const tokenPatience = 50 * time.Millisecond

// readTokens starts a read for each waiting group of calls in turn, the
// next once the one before has ended or tokenPatience has passed, until
// none waits.
func (s *Set) readTokens() {
	for {
		s.tokens.mu.Lock()
		c := s.tokens.next
		s.tokens.next = nil
		if c == nil {
			s.tokens.reading = false
			s.tokens.mu.Unlock()
			return
		}
		s.tokens.mu.Unlock()
		go s.readToken(c)
		patience := time.NewTimer(tokenPatience)
		select {
		case <-c.done:
		case <-patience.C:
		}
		patience.Stop()
	}
}

// readToken reads the primary's position for the calls waiting on c.
func (s *Set) readToken(c *tokenRead) {
	ctx, cancel := context.WithTimeout(context.Background(), TokenTimeout)
	defer cancel()
	s.tokens.queries.Add(1)
	var text string
	var block, segment uint64
	// The insert position, not the flushed one: a commit made with
	// synchronous_commit off (a role's, a database's or the cluster's
	// setting) returns before its WAL is flushed, and a flushed position
	// read after it may be short of it.
	c.err = s.primary.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text,
		current_setting('wal_block_size')::bigint, pg_size_bytes(current_setting('wal_segment_size'))`).Scan(&text, &block, &segment)
	if c.err == nil {
		c.lsn, c.err = ParseLSN(text)
		c.lsn = recordEnd(c.lsn, block, segment)
	}
	close(c.done)
}

// recordEnd is the insert position lsn as the end of the record before
// it. When the WAL ends exactly at a page's end, PostgreSQL answers the
// insert position past the next page's header (where the next record
// would start: the page + 24 bytes, + 40 at a segment's start), a
// position no record ends at and no standby reports as replayed (a
// standby's replay position is its last record's end: the page's end).
// Such a token would be reached only once the primary wrote more WAL.
func recordEnd(lsn, block, segment uint64) uint64 {
	const shortHeader, longHeader = 24, 40 // SizeOfXLogShortPHD, SizeOfXLogLongPHD
	switch {
	case segment > 0 && lsn%segment == longHeader:
		return lsn - longHeader
	case block > 0 && lsn%block == shortHeader:
		return lsn - shortHeader
	}
	return lsn
}

// ParseLSN reads PostgreSQL's text form of a WAL position ("16/B374D848").
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || len(hi) == 0 || len(hi) > 8 || len(lo) == 0 || len(lo) > 8 {
		return 0, fmt.Errorf("not an LSN: %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("not an LSN: %q", s)
	}
	return h<<32 | l, nil
}

// FormatLSN writes a WAL position as PostgreSQL does.
func FormatLSN(lsn uint64) string { return fmt.Sprintf("%X/%X", lsn>>32, lsn&0xFFFFFFFF) }

// inRotation reports whether n may serve a read that needs position min
// (0: any).
func (s *Set) inRotation(n *Node, min uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return s.eligible(n, min) && n.replay >= min
}

// serving is the rotation's rule: answering, a standby, lagging within
// the bound. n.mu is held.
func (s *Set) serving(n *Node) bool { return n.up && n.lag <= s.MaxLag }

// eligible reports whether n may serve a read that needs position min
// once it has replayed that far: a read without a token (0) needs its lag
// within the bound (serving); one with a token only that it is not known
// to lag beyond it (a primary that cannot be read leaves its lag unknown,
// and the token is proof enough). n.mu is held.
func (s *Set) eligible(n *Node, min uint64) bool {
	if min == 0 {
		return s.serving(n)
	}
	return n.up && n.behind <= s.MaxLag
}

// pollFirst and pollMost are the first and the longest pauses of Choose
// between its reads of the standbys' positions: doubling from the one to
// the other, a read that waits 250 ms reads each standby about 20 times
// (every 5 ms, as before, was 50), and one whose standby replays within a
// few milliseconds is still served within about as many.
const (
	pollFirst = time.Millisecond
	pollMost  = 16 * time.Millisecond
)

// Choose picks a standby to serve a read that must see everything up to
// position min (0: a read without a token), round robin among those in
// rotation; a read with a token waits up to Wait for one to replay that
// far, reading their positions after pauses that double (pollFirst to
// pollMost). nil: the primary serves it.
func (s *Set) Choose(ctx context.Context, min uint64) *Node {
	if n := s.pick(min); n != nil || min == 0 || s.Wait <= 0 {
		return n
	}
	deadline := time.Now().Add(s.Wait)
	// A token past the primary's own position was never issued by it (a
	// client's made-up or garbled one): no standby reaches it, so the
	// primary serves at once, without polling the standbys for Wait. The
	// primary's position is read through Token, one read for the calls
	// that ask at once, within Wait: a primary that does not answer (down,
	// failing over) leaves the standbys to be asked as before.
	if !s.seenPast(min) {
		tctx, cancel := context.WithDeadline(ctx, deadline)
		cur, err := s.Token(tctx)
		cancel()
		if err == nil && min > cur {
			return nil
		}
	}
	pause := pollFirst
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		if pause *= 2; pause > pollMost {
			pause = pollMost
		}
		for _, n := range s.Nodes {
			n.mu.Lock()
			ok := s.eligible(n, min)
			n.mu.Unlock()
			if !ok {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, time.Until(deadline))
			lsn, recovery, err := s.poll(cctx, n)
			cancel()
			if err == nil && recovery && lsn >= min {
				return n
			}
		}
	}
	return nil
}

// poll answers n's replay position for a waiting read (Choose), and
// keeps it as n's. The reads waiting at once share one read of it: a
// read in flight when a caller asks is its answer too, even if it began
// before the caller asked, as a position replayed then is replayed now
// (a caller short of its position asks again after its pause). So a
// standby is asked by one query at a time however many reads wait for it
// (each asking its own, 32 waiting reads asked it 32 times as often).
// The shared read ends within Wait, whichever caller gives up first.
func (s *Set) poll(ctx context.Context, n *Node) (lsn uint64, recovery bool, err error) {
	n.mu.Lock()
	r := n.polling
	if r == nil {
		r = &replayRead{done: make(chan struct{})}
		n.polling = r
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), s.Wait)
			defer cancel()
			s.polls.Add(1)
			r.lsn, r.recovery, r.err = replayed(rctx, n.Pool)
			n.mu.Lock()
			if r.err == nil && r.recovery && r.lsn > n.replay {
				n.replay = r.lsn
			}
			n.polling = nil
			n.mu.Unlock()
			close(r.done)
		}()
	}
	n.mu.Unlock()
	select {
	case <-r.done:
		return r.lsn, r.recovery, r.err
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
}

// seenPast reports whether the primary's newest sampled position is at or
// past lsn.
func (s *Set) seenPast(lsn uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.history) > 0 && s.history[len(s.history)-1].lsn >= lsn
}

func (s *Set) pick(min uint64) *Node {
	s.mu.Lock()
	start := s.next
	s.next++
	s.mu.Unlock()
	for i := range s.Nodes {
		n := s.Nodes[(start+i)%len(s.Nodes)]
		if s.inRotation(n, min) {
			return n
		}
	}
	return nil
}

// Statuses is every standby's state.
func (s *Set) Statuses() []Status {
	out := make([]Status, len(s.Nodes))
	for i, n := range s.Nodes {
		n.mu.Lock()
		out[i] = Status{Name: n.Name, InRotation: s.serving(n), LagSeconds: n.lag.Seconds(),
			LagBytes: n.lagSize, Error: n.err}
		n.mu.Unlock()
	}
	return out
}
