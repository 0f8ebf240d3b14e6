package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// namedSpace is the space of the id a request's path names: the key's own
// (ledger.APIKey.Space), or for an admin key the one ?space= names (a space
// that does not exist holds nothing: 404), every space when it names none.
// Another key naming a space not its own is 403.
func namedSpace(c echo.Context) (string, error) {
	k, named := keyOf(c), c.QueryParam("space")
	switch {
	case k.Role == ledger.RoleAdmin && named == "":
		return ledger.AnySpace, nil
	case k.Role == ledger.RoleAdmin:
		return named, nil
	case named != "" && named != k.Space():
		return "", fault.Errorf(fault.Forbidden, "a %s key names only ids of its own space", k.Role)
	}
	return k.Space(), nil
}

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
	preview, err := dryRun(c)
	if err != nil {
		return err
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := canActForCustomer(keyOf(c), req.CustomerID); err != nil {
		return err
	}
	req.Space, req.Preview = keyOf(c).Space(), preview
	r, replayed, err := s.catalog.Redeem(c.Request().Context(), req, actor(c))
	if err != nil {
		return err
	}
	if err := s.replay(c, replayed); err != nil {
		return err
	}
	if preview {
		return reply(c, http.StatusOK, previewOfRedemption(r, replayed))
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
	// A customer key's space holds only its customer's redemptions.
	space, err := namedSpace(c)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c, "cancel")
	if err != nil {
		return err
	}
	r, replayed, err := s.catalog.CancelRedemptionWithKey(c.Request().Context(), space, c.Param("id"), req.Reason, actor(c),
		key, requestHash(c, req))
	if err != nil {
		return err
	}
	if err := s.replay(c, replayed); err != nil {
		return err
	}
	return reply(c, http.StatusOK, r)
}

// customerRedemptions lists the customer's redemptions in every space, each
// saying whether the asking key's space may cancel it (an admin's: every
// one not cancelled).
func (s *Server) customerRedemptions(c echo.Context) error {
	id, k := c.Param("id"), keyOf(c)
	if err := canReadCustomer(k, id); err != nil {
		return err
	}
	cursor, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	space := k.Space()
	if k.Role == ledger.RoleAdmin {
		space = ledger.AnySpace
	}
	rs, next, err := s.catalog.CustomerRedemptions(c.Request().Context(), id, space, cursor, limit)
	if err != nil {
		return err
	}
	if n := fitPage(rs); n < len(rs) {
		rs = rs[:n]
		next = rs[n-1].EntryID
	}
	out := map[string]any{"customer_id": id, "redemptions": rs, "next_cursor": nil}
	if next != 0 {
		out["next_cursor"] = itoa(next)
	}
	return reply(c, http.StatusOK, out)
}
