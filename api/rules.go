package api

import (
	"math"
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
	after, err := cursorParam(c)
	if err != nil {
		return err
	}
	limit, err := listLimit(c)
	if err != nil {
		return err
	}
	versions, next, err := s.loyalty.RuleVersionPage(c.Request().Context(), int(min(after, math.MaxInt32)), limit)
	if err != nil {
		return err
	}
	if n := fitPage(versions); n < len(versions) {
		versions, next = versions[:n], versions[n-1].Version
	}
	out := map[string]any{"versions": versions, "next_cursor": nil}
	if next != 0 {
		out["next_cursor"] = itoa(int64(next))
	}
	return reply(c, http.StatusOK, out)
}

// putRules stores a new version of the rule set.
func (s *Server) putRules(c echo.Context) error {
	// What the document does not set.
	rs := rules.RuleSet{BackdatingDays: rules.DefaultBackdatingDays, ExpiryNoticeDays: rules.DefaultExpiryNoticeDays(),
		Lifecycle: rules.DefaultLifecycle()}
	if err := decode(c, &rs); err != nil {
		return err
	}
	rs, err := s.loyalty.PutRules(c.Request().Context(), rs, actor(c))
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, rs)
}
