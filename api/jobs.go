package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

func (s *Server) runExpiry(c echo.Context) error {
	if err := noBody(c); err != nil {
		return err
	}
	asOf, err := timeParam(c, "as_of", s.ledger.Now())
	if err != nil {
		return err
	}
	rep, err := s.loyalty.Expire(c.Request().Context(), asOf, actor(c), nil)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, rep)
}
