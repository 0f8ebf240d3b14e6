package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/rules"
)

func (s *Server) getRules(c echo.Context) error {
	at, err := timeParam(c, "at", s.ledger.Now())
	if err != nil {
		return err
	}
	rs, err := s.loyalty.RulesAt(c.Request().Context(), at)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, rs)
}

func (s *Server) listRuleVersions(c echo.Context) error {
	versions, err := s.loyalty.RuleVersions(c.Request().Context())
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, map[string]any{"versions": versions})
}

// putRules stores a new version of the rule set.
func (s *Server) putRules(c echo.Context) error {
	rs := rules.RuleSet{BackdatingDays: rules.DefaultBackdatingDays} // when the document does not set it
	if err := decode(c, &rs); err != nil {
		return err
	}
	rs, err := s.loyalty.PutRules(c.Request().Context(), rs, actor(c))
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, rs)
}
