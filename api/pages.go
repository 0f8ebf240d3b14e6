package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// Pages are the HTML pages served beside the API (package web): the
// customer portal and the finance console, at /, /portal/..., /console/...
// (but /console/csv/..., the API's) and /static/....
type Pages interface {
	http.Handler
	// PortalLink makes a one-time link into the portal for the customer,
	// asked for by the key keyID: its path and when it stops working.
	// Errors: fault.UnknownCustomer.
	PortalLink(ctx context.Context, customerID string, keyID int64) (string, time.Time, error)
	// ConsoleKey is the key behind the request's finance console
	// session, if it has a live one.
	ConsoleKey(c echo.Context) (ledger.APIKey, bool, error)
	// Observe has fn told of every page request once answered, by its
	// route (never its path, which may hold a portal link's token).
	Observe(fn func(method, route string, status int, bytes int64, elapsed time.Duration))
}

// observePage records a page request in the request log and the metrics,
// as observe does the API's: by its route, never its path.
func (s *Server) observePage(method, route string, status int, bytes int64, elapsed time.Duration) {
	method = methodLabel(method)
	s.metrics.observe(method, route, status, elapsed)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(context.Background(), level, "page", "method", method, "route", route, "status", status,
		"bytes", bytes, "duration_ms", float64(elapsed.Microseconds())/1000)
}

// isPage reports whether the pages serve the path (/console/csv/... is
// the API's).
func isPage(path string) bool {
	return path == "/" || path == "/portal" || path == "/console" || strings.HasPrefix(path, "/portal/") ||
		strings.HasPrefix(path, "/console/") || strings.HasPrefix(path, "/static/")
}

// mountPages adds POST /v1/portal/sessions, and serves the reports' CSV
// to the console's session at /console/csv/..., by the same handlers as
// /v1/reports/... (so a download is what the API answers). The CSV routes
// are on a router of their own: they are the console's, not operations of
// the API (openapi.yaml).
func (s *Server) mountPages(v1 routes, books echo.MiddlewareFunc) {
	v1.POST("/portal/sessions", s.createPortalSession, allow(ledger.RoleAdmin, ledger.RolePartner))
	e := newEcho()
	e.HTTPErrorHandler = s.errorHandler
	e.Use(safeRequestID, middleware.RequestID(), s.observe)
	csv := routes{group: e.Group("/console/csv"), use: []echo.MiddlewareFunc{s.consoleSession, asCSV}}
	csv.GET("/trial-balance", s.heavy(s.onReplica((*Server).trialBalance)), books)
	csv.GET("/rebates", s.heavy(s.onReplica((*Server).rebateReport)), books)
	csv.GET("/points", s.heavy(s.onReplica((*Server).pointsReport)), books)
	csv.GET("/segments", s.heavy(s.onReplica((*Server).segmentReport)), books)
	s.consoleCSV = e
}

type portalSessionRequest struct {
	CustomerID string `json:"customer_id"`
}

// createPortalSession answers a one-time link into the portal for one
// customer, for a partner's app to open for its signed-in customer.
func (s *Server) createPortalSession(c echo.Context) error {
	var req portalSessionRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if !ledger.ValidCustomerID(req.CustomerID) {
		return &fault.Error{Code: fault.Invalid, Message: "customer_id must be 1 to 64 of A-Z a-z 0-9 _ . -",
			Fields: map[string]string{"customer_id": "1 to 64 of A-Z a-z 0-9 _ . -"}}
	}
	path, expires, err := s.pages.PortalLink(c.Request().Context(), req.CustomerID, keyOf(c).ID)
	if err != nil {
		return err
	}
	base := s.publicURL
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	return reply(c, http.StatusCreated, map[string]any{"customer_id": req.CustomerID,
		"url": base + path, "expires_at": expires})
}

// consoleSession authenticates a console CSV download by the console's
// session cookie instead of a bearer key.
func (s *Server) consoleSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, ok, err := s.pages.ConsoleKey(c)
		if err != nil {
			return err
		}
		if !ok {
			return fault.Errorf(fault.Unauthorized, "sign in to the console at /console/signin")
		}
		c.Set(keyContext, key)
		return next(c)
	}
}

// asCSV makes a report answer CSV, as a download that no cache keeps (a
// console page's figures, as its page's).
func asCSV(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.QueryParams().Set("format", "csv")
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="tally`+
			clipName(c.Path())+`.csv"`)
		return next(c)
	}
}

// clipName is the route's last segment with a dash before it: -rebates.
func clipName(route string) string {
	for i := len(route) - 1; i >= 0; i-- {
		if route[i] == '/' {
			return "-" + route[i+1:]
		}
	}
	return ""
}
