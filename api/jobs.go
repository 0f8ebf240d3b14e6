package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/loyalty"
)

func (s *Server) runExpiry(c echo.Context) error {
	if err := noBody(c); err != nil {
		return err
	}
	asOf, err := timeParam(c, "as_of", s.ledger.Now())
	if err != nil {
		return err
	}
	var dryRun bool
	switch v := c.QueryParam("dry_run"); v {
	case "", "false":
	case "true":
		dryRun = true
	default:
		return fault.InvalidField("dry_run", "true or false")
	}
	ctx := c.Request().Context()
	if dryRun {
		// A preview reads every customer's lots due by as_of, which may
		// be years ahead: a heavy read, which takes its turn with the
		// reports (heavy.go).
		return s.heavy(func(c echo.Context) error {
			rep, err := s.loyalty.PreviewExpiry(ctx, asOf)
			if err != nil {
				return err
			}
			return reply(c, http.StatusOK, rep)
		})(c)
	}
	rep, err := s.loyalty.Expire(ctx, asOf, actor(c), nil)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, rep)
}

func (s *Server) undoExpiry(c echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return fault.Errorf(fault.NotFound, "no expiry run %q", clip(c.Param("id")))
	}
	key, err := idempotencyKey(c, "expiry.undo")
	if err != nil {
		return err
	}
	hash, earlier := numberedHash(c, id, req)
	u, replayed, err := s.loyalty.UndoExpiry(c.Request().Context(), id, loyalty.UndoInput{Reason: req.Reason, Actor: actor(c),
		IdempotencyKey: key, RequestHash: hash, EarlierHash: earlier})
	if err != nil {
		return err
	}
	if err := s.replay(c, replayed); err != nil {
		return err
	}
	return reply(c, http.StatusOK, u)
}
