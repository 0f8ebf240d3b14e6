package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
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
		Clear            []string   `json:"clear,omitempty"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	if len(req.Clear) > len(catalog.ClearableFields) {
		return fault.InvalidField("clear", "each of "+strings.Join(catalog.ClearableFields, ", ")+" at most once")
	}
	patch := catalog.ProductPatch{Name: req.Name, MinLevel: req.MinLevel, ValidFrom: req.ValidFrom, ValidUntil: req.ValidUntil,
		Stock: req.Stock, PerCustomerLimit: req.PerCustomerLimit, Active: req.Active, Clear: req.Clear}
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
	limit, err := listLimit(c)
	if err != nil {
		return err
	}
	list, next, err := s.catalog.ProductPage(c.Request().Context(), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	if n := fitPage(list); n < len(list) {
		list, next = list[:n], list[n-1].SKU
	}
	return reply(c, http.StatusOK, map[string]any{"products": list, "next_cursor": nullIfEmpty(next)})
}

func (s *Server) customerCatalog(c echo.Context) error {
	id := c.Param("id")
	if err := canReadCustomer(keyOf(c), id); err != nil {
		return err
	}
	limit, err := listLimit(c)
	if err != nil {
		return err
	}
	items, next, err := s.catalog.CatalogPage(c.Request().Context(), id, c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	if n := fitPage(items); n < len(items) {
		items, next = items[:n], catalog.CatalogCursorAfter(items[n-1].Product)
	}
	return reply(c, http.StatusOK, map[string]any{"customer_id": id, "items": items, "next_cursor": nullIfEmpty(next)})
}
