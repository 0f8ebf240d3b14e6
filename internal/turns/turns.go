// Package turns lets heavy reads take turns: the reports, reconciliation
// and audit verification of the API and the console's pages share a
// server's few turns, so that however many are asked for at once, they
// hold no more than that many database connections.
package turns

import (
	"context"
	"fmt"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
)

// Reads and Wait are a server's turns: how many heavy reads run at once,
// and how long one waits for its turn. A heavy read holds a database
// connection for as long as it runs: a report streams its rows from inside
// its transaction, so a client slow to read them holds the connection until
// the server's write timeout; a reconciliation and an audit chain's
// verification read the whole books; a console page builds a report whole.
// A pool has 16 connections at least: with at most four heavy reads, a few
// callers that ask for reports and never read the answers cannot take the
// connections that balances, statements and writes need.
const (
	Reads = 4
	Wait  = 5 * time.Second
)

// Default is Reads turns, each waited for up to Wait.
func Default() *Turns { return New(Reads, Wait) }

// Turns are n turns; a caller waits up to wait for one.
type Turns struct {
	held chan struct{}
	wait time.Duration
}

// New is n turns, each waited for up to wait.
func New(n int, wait time.Duration) *Turns {
	return &Turns{held: make(chan struct{}, n), wait: wait}
}

// Take waits for a turn, up to the wait, and answers the function that
// gives it back; fault.ReportsBusy when none came in time, ctx's error
// when ctx ended first.
func (t *Turns) Take(ctx context.Context) (release func(), err error) {
	wait := time.NewTimer(t.wait)
	defer wait.Stop()
	select {
	case t.held <- struct{}{}:
		return func() { <-t.held }, nil
	case <-wait.C:
		return nil, &fault.Error{Code: fault.ReportsBusy,
			Message: fmt.Sprintf("%d reports, reconciliations or verifications are running: try again", cap(t.held))}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Held is how many turns are taken now.
func (t *Turns) Held() int { return len(t.held) }
