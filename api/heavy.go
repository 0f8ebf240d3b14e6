package api

import (
	"github.com/labstack/echo/v4"
)

// heavy runs h, a heavy read, when one of the server's turns is free
// (turns.Turns, shared with the console's pages); after waiting for one in
// vain it answers 503 reports_busy, with Retry-After, reading nothing.
func (s *Server) heavy(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		release, err := s.turns.Take(c.Request().Context())
		if err != nil {
			return err
		}
		defer release()
		return h(c)
	}
}
