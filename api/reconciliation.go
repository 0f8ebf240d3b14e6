package api

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// reconcile checks every invariant, the ledger's and those of the rows kept
// beside it: every rebate recomputed from its deposit and rule version,
// every event row against what it names.
func (s *Server) reconcile(c echo.Context) error {
	r, err := s.finance.Reconcile(c.Request().Context())
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, r)
}
