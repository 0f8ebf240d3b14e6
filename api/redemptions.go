package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// canActForCustomer: admin and partner keys act for any customer, a
// customer key for its own.
func canActForCustomer(key ledger.APIKey, id string) error {
	if key.Role == ledger.RoleCustomer && key.CustomerID != id {
		return fault.Errorf(fault.Forbidden, "a customer key acts only for its own customer")
	}
	return nil
}

func (s *Server) redeem(c echo.Context) error {
	var req catalog.RedemptionInput
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := canActForCustomer(keyOf(c), req.CustomerID); err != nil {
		return err
	}
	r, replayed, err := s.catalog.Redeem(c.Request().Context(), req, actor(c))
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return reply(c, http.StatusCreated, r)
}

func (s *Server) cancelRedemption(c echo.Context) error {
	var req struct {
		Reason string `json:"reason,omitempty"`
	}
	if c.Request().ContentLength != 0 {
		if err := decode(c, &req); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	if key := keyOf(c); key.Role == ledger.RoleCustomer {
		r, err := s.catalog.Redemption(ctx, id)
		if err != nil {
			return err
		}
		if err := canActForCustomer(key, r.CustomerID); err != nil {
			return err
		}
	}
	key, err := idempotencyKey(c, "cancel")
	if err != nil {
		return err
	}
	r, replayed, err := s.catalog.CancelRedemptionWithKey(ctx, id, req.Reason, actor(c), key, requestHash(c, req))
	if err != nil {
		return err
	}
	if replayed {
		c.Response().Header().Set("Idempotent-Replayed", "true")
	}
	return reply(c, http.StatusOK, r)
}
