package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

type customerRequest struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	ReferredBy *string `json:"referred_by,omitempty"`
}

// createCustomer registers a customer: 201 when new, 200 when the same
// registration is repeated.
func (s *Server) createCustomer(c echo.Context) error {
	var req customerRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	cust, created, err := s.loyalty.CreateCustomer(c.Request().Context(),
		loyalty.Customer{ID: req.ID, Name: req.Name, ReferredBy: req.ReferredBy})
	if err != nil {
		return err
	}
	return s.createdOrRepeated(c, created, cust)
}

func (s *Server) getCustomer(c echo.Context) error {
	id := c.Param("id")
	if err := canReadCustomer(keyOf(c), id); err != nil {
		return err
	}
	p, err := s.loyalty.Profile(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, p)
}

// canReadCustomer: admin and finance read every customer, a customer key
// only its own.
func canReadCustomer(key ledger.APIKey, id string) error {
	return canReadAccount(key, ledger.CustomerAccount(id, "points"))
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
	if n := fitPage(entries); n < len(entries) {
		entries = entries[:n]
		next = entries[n-1].EntryID
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
