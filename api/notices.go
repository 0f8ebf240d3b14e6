package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// runNotices runs the notice jobs as of ?as_of= (default now): points
// expiring, the month turn's downgrades, referral bonuses available.
func (s *Server) runNotices(c echo.Context) error {
	if err := noBody(c); err != nil {
		return err
	}
	asOf, err := timeParam(c, "as_of", s.ledger.Now())
	if err != nil {
		return err
	}
	rep, err := s.loyalty.Notices(c.Request().Context(), asOf)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, rep)
}

// thresholdPartner is the partner a low-balance threshold route names: an
// id, or "me" for a partner key's own. A partner key names only its own.
func thresholdPartner(c echo.Context) (int64, error) {
	k, p := keyOf(c), c.Param("id")
	if p == "me" {
		if k.PartnerID == 0 {
			return 0, fault.Errorf(fault.NotFound, "this key belongs to no partner: name the partner by its id")
		}
		return k.PartnerID, nil
	}
	id, err := strconv.ParseInt(p, 10, 64)
	if err != nil || id <= 0 {
		return 0, fault.Errorf(fault.NotFound, "no partner %q", clip(p))
	}
	if k.Role == ledger.RolePartner && id != k.PartnerID {
		return 0, fault.Errorf(fault.Forbidden, "a partner key reads and sets its own partner's threshold only")
	}
	return id, nil
}

func (s *Server) getLowBalanceThreshold(c echo.Context) error {
	partner, err := thresholdPartner(c)
	if err != nil {
		return err
	}
	t, err := s.prepaid.LowBalanceThreshold(c.Request().Context(), partner)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, t)
}

func (s *Server) putLowBalanceThreshold(c echo.Context) error {
	var req struct {
		Threshold *Amount `json:"threshold"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	partner, err := thresholdPartner(c)
	if err != nil {
		return err
	}
	if req.Threshold == nil {
		return fault.InvalidField("threshold", "required: a CNY amount such as \"500.00\" (\"0\" for none)")
	}
	t, err := s.prepaid.SetLowBalanceThreshold(c.Request().Context(), partner, req.Threshold.Decimal, actor(c))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, t)
}
