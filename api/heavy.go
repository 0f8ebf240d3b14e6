package api

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
)

// How many heavy reads run at once, and how long one waits for its turn.
// A heavy read holds a database connection for as long as it runs: a
// report streams its rows from inside its transaction (stream.go), so a
// client slow to read them holds the connection until the server's write
// timeout; a reconciliation and an audit chain's verification read the
// whole books. A pool has 16 connections at least: with at most four heavy
// reads, a few callers that send a report request and never read the
// answer cannot take the connections that balances, statements and writes
// need. A heavy read that finds no turn within heavyWait is answered 503
// reports_busy, with Retry-After.
const (
	heavyReads = 4
	heavyWait  = 5 * time.Second
)

// heavy runs h, a heavy read, when one of the heavyReads turns is free.
func (s *Server) heavy(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		wait := time.NewTimer(heavyWait)
		defer wait.Stop()
		select {
		case s.heavyTurns <- struct{}{}:
		case <-wait.C:
			return &fault.Error{Code: fault.ReportsBusy,
				Message: fmt.Sprintf("%d reports, reconciliations or verifications are running: try again", heavyReads)}
		case <-c.Request().Context().Done():
			return c.Request().Context().Err()
		}
		defer func() { <-s.heavyTurns }()
		return h(c)
	}
}
