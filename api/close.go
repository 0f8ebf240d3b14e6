package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/rules"
)

// closePeriod closes a month once reconciliation passes, answering its
// digest.
func (s *Server) closePeriod(c echo.Context) error {
	if err := noBody(c); err != nil {
		return err
	}
	p, err := s.finance.ClosePeriod(c.Request().Context(), rules.Month(c.Param("month")), actor(c))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, p)
}

// reopenPeriod reopens the latest closed month, for the reason given.
func (s *Server) reopenPeriod(c echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	ev, err := s.finance.ReopenPeriod(c.Request().Context(), rules.Month(c.Param("month")), actor(c), req.Reason)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, map[string]any{"month": c.Param("month"), "action": ev.Action, "actor": ev.Actor,
		"reason": ev.Reason, "at": ev.At, "digest": ev.Digest})
}

// getPeriod is a month's status: closed or not, its digest, whether its
// figures still have it, and its history.
func (s *Server) getPeriod(c echo.Context) error {
	st, err := s.finance.Period(c.Request().Context(), rules.Month(c.Param("month")))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, st)
}
