package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

type productRequest struct {
	SKU              string     `json:"sku"`
	Name             string     `json:"name"`
	Kind             string     `json:"kind"`
	PointsPrice      Amount     `json:"points_price"`
	MinLevel         *int       `json:"min_level,omitempty"`
	ValidFrom        *time.Time `json:"valid_from,omitempty"`
	ValidUntil       *time.Time `json:"valid_until,omitempty"`
	Stock            *int       `json:"stock,omitempty"`
	PerCustomerLimit *int       `json:"per_customer_limit,omitempty"`
}

// points reads a whole number of points from a decimal string.
func points(a Amount, field string) (int64, error) {
	if !a.IsInteger() || a.IsNegative() || a.GreaterThan(decimalMaxPoints) {
		return 0, &fault.Error{Code: fault.InvalidAmount, Message: field + " must be a whole number of points",
			Fields: map[string]string{field: "a whole number of points"}}
	}
	return a.IntPart(), nil
}

func (s *Server) createProduct(c echo.Context) error {
	var req productRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	price, err := points(req.PointsPrice, "points_price")
	if err != nil {
		return err
	}
	p, err := s.catalog.CreateProduct(c.Request().Context(), catalog.Product{SKU: req.SKU, Name: req.Name, Kind: req.Kind,
		PointsPrice: price, MinLevel: req.MinLevel, ValidFrom: req.ValidFrom, ValidUntil: req.ValidUntil, Stock: req.Stock,
		PerCustomerLimit: req.PerCustomerLimit})
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, p)
}

func (s *Server) patchProduct(c echo.Context) error {
	var req struct {
		Name             *string    `json:"name,omitempty"`
		PointsPrice      *Amount    `json:"points_price,omitempty"`
		MinLevel         *int       `json:"min_level,omitempty"`
		ValidFrom        *time.Time `json:"valid_from,omitempty"`
		ValidUntil       *time.Time `json:"valid_until,omitempty"`
		Stock            *int       `json:"stock,omitempty"`
		PerCustomerLimit *int       `json:"per_customer_limit,omitempty"`
		Active           *bool      `json:"active,omitempty"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	patch := catalog.ProductPatch{Name: req.Name, MinLevel: req.MinLevel, ValidFrom: req.ValidFrom, ValidUntil: req.ValidUntil,
		Stock: req.Stock, PerCustomerLimit: req.PerCustomerLimit, Active: req.Active}
	if req.PointsPrice != nil {
		price, err := points(*req.PointsPrice, "points_price")
		if err != nil {
			return err
		}
		patch.PointsPrice = &price
	}
	p, err := s.catalog.UpdateProduct(c.Request().Context(), c.Param("sku"), patch)
	if fault.CodeOf(err) == fault.UnknownProduct {
		return fault.Errorf(fault.NotFound, "no product %q", clip(c.Param("sku")))
	}
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, p)
}

func (s *Server) listProducts(c echo.Context) error {
	list, err := s.catalog.Products(c.Request().Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []catalog.Product{}
	}
	return reply(c, http.StatusOK, map[string]any{"products": list})
}

func (s *Server) customerCatalog(c echo.Context) error {
	id := c.Param("id")
	if err := canReadCustomer(keyOf(c), id); err != nil {
		return err
	}
	items, err := s.catalog.Catalog(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, map[string]any{"customer_id": id, "items": items})
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
	r, err := s.catalog.CancelRedemption(ctx, id, req.Reason, actor(c))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, r)
}

func (s *Server) customerBalances(c echo.Context) error {
	id := c.Param("id")
	if err := canReadCustomer(keyOf(c), id); err != nil {
		return err
	}
	b, err := s.loyalty.Balances(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, b)
}

func (s *Server) customerStatement(c echo.Context) error {
	id := c.Param("id")
	if err := canReadCustomer(keyOf(c), id); err != nil {
		return err
	}
	cursor, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	entries, next, err := s.loyalty.Statement(c.Request().Context(), id, cursor, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"customer_id": id, "entries": entries, "next_cursor": nil}
	if next != 0 {
		out["next_cursor"] = itoa(next)
	}
	return reply(c, http.StatusOK, out)
}

func (s *Server) expiringPoints(c echo.Context) error {
	id := c.Param("id")
	if err := canReadCustomer(keyOf(c), id); err != nil {
		return err
	}
	days := 30
	if v := c.QueryParam("within_days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3660 {
			return &fault.Error{Code: fault.Invalid, Message: "within_days must be a whole number from 1 to 3660",
				Fields: map[string]string{"within_days": "1 to 3660"}}
		}
		days = n
	}
	groups, err := s.loyalty.Expiring(c.Request().Context(), id, time.Duration(days)*24*time.Hour)
	if err != nil {
		return err
	}
	var total int64
	for _, g := range groups {
		total += g.Points
	}
	return reply(c, http.StatusOK, map[string]any{"customer_id": id, "within_days": days,
		"total": strconv.FormatInt(total, 10), "by_date": groups})
}

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
