package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[fault.Code]int{
	fault.Invalid:              http.StatusUnprocessableEntity,
	fault.InvalidAmount:        http.StatusUnprocessableEntity,
	fault.Unbalanced:           http.StatusUnprocessableEntity,
	fault.UnknownAccount:       http.StatusUnprocessableEntity,
	fault.AssetMismatch:        http.StatusUnprocessableEntity,
	fault.InsufficientFunds:    http.StatusUnprocessableEntity,
	fault.NotFound:             http.StatusNotFound,
	fault.IdempotencyConflict:  http.StatusConflict,
	fault.AlreadyReversed:      http.StatusConflict,
	fault.WithdrawnSince:       http.StatusConflict,
	fault.RebateDrawnSince:     http.StatusConflict,
	fault.NotReversible:        http.StatusConflict,
	fault.Unauthorized:         http.StatusUnauthorized,
	fault.Forbidden:            http.StatusForbidden,
	fault.Internal:             http.StatusInternalServerError,
	fault.InvalidJSON:          http.StatusBadRequest,
	fault.BodyTooLarge:         http.StatusRequestEntityTooLarge,
	fault.UnsupportedMediaType: http.StatusUnsupportedMediaType,
	fault.MethodNotAllowed:     http.StatusMethodNotAllowed,
	fault.Unavailable:          http.StatusServiceUnavailable,
	fault.ReportsBusy:          http.StatusServiceUnavailable,
	fault.TooManyRequests:      http.StatusTooManyRequests,
	fault.DatabaseUnavailable:  http.StatusServiceUnavailable,
	fault.MalformedRequest:     http.StatusBadRequest,

	fault.UnknownCustomer:   http.StatusUnprocessableEntity,
	fault.CustomerConflict:  http.StatusConflict,
	fault.SelfReferral:      http.StatusUnprocessableEntity,
	fault.UnknownReferrer:   http.StatusUnprocessableEntity,
	fault.ReferrerImmutable: http.StatusConflict,
	fault.UnknownShipment:   http.StatusUnprocessableEntity,
	fault.DuplicateShipment: http.StatusConflict,
	fault.RefundExceeds:     http.StatusUnprocessableEntity,
	fault.AlreadyRated:      http.StatusConflict,
	fault.BeforeShipment:    http.StatusUnprocessableEntity,
	fault.ShipmentRefunded:  http.StatusConflict,
	fault.CampaignConflict:  http.StatusConflict,
	fault.InvalidRules:      http.StatusUnprocessableEntity,
	fault.OccurredAtTooOld:  http.StatusUnprocessableEntity,
	fault.AsOfInFuture:      http.StatusUnprocessableEntity,
	fault.AlreadyUndone:     http.StatusConflict,

	fault.UnknownProduct:     http.StatusUnprocessableEntity,
	fault.ProductExists:      http.StatusConflict,
	fault.InsufficientPoints: http.StatusUnprocessableEntity,
	fault.NotEligible:        http.StatusUnprocessableEntity,
	fault.OutOfStock:         http.StatusConflict,
	fault.OutsideWindow:      http.StatusUnprocessableEntity,
	fault.LimitReached:       http.StatusUnprocessableEntity,
	fault.AlreadyCancelled:   http.StatusConflict,
	fault.AmbiguousID:        http.StatusConflict,

	fault.HostNotAllowed:      http.StatusUnprocessableEntity,
	fault.UnknownNotification: http.StatusUnprocessableEntity,

	fault.PeriodClosed:         http.StatusConflict,
	fault.PeriodOutOfOrder:     http.StatusConflict,
	fault.PeriodNotEnded:       http.StatusUnprocessableEntity,
	fault.PeriodNotClosed:      http.StatusConflict,
	fault.ReconciliationFailed: http.StatusConflict,
	fault.PeriodBusy:           http.StatusConflict,
}

// Problem is an RFC 9457 problem document with Tally's stable code.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      fault.Code        `json:"code"`
	Account   string            `json:"account,omitempty"`
	Errors    map[string]string `json:"errors,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

func problemFor(err error) Problem {
	var le *fault.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &le):
		status, ok := statusOf[le.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		return Problem{Code: le.Code, Status: status, Detail: le.Message, Account: le.Account, Errors: le.Fields}
	case errors.As(err, &he):
		// Echo's own refusals: unknown routes, wrong methods, body limit.
		code := map[int]fault.Code{
			http.StatusNotFound:              fault.NotFound,
			http.StatusMethodNotAllowed:      fault.MethodNotAllowed,
			http.StatusRequestEntityTooLarge: fault.BodyTooLarge,
			http.StatusUnsupportedMediaType:  fault.UnsupportedMediaType,
			http.StatusUnauthorized:          fault.Unauthorized,
			http.StatusForbidden:             fault.Forbidden,
		}[he.Code]
		if code == "" {
			code = fault.InvalidJSON
			if he.Code >= 500 {
				code = fault.Internal
			}
		}
		detail := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			detail = m
		}
		return Problem{Code: code, Status: he.Code, Detail: detail}
	}
	if fault.DatabaseLost(err) {
		return databaseUnavailable
	}
	return Problem{Code: fault.Internal, Status: http.StatusInternalServerError,
		Detail: "internal error: the request id in this response finds it in the logs"}
}

// errorHandler is Echo's HTTPErrorHandler: every error leaves as
// application/problem+json; internal ones are logged, never detailed.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := *finish(c, problemFor(err))
	if p.Status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "request failed", "err", err, "request_id", p.RequestID,
			"method", methodLabel(c.Request().Method), "path", clipPath(c.Request().URL.Path))
	}
	switch p.Status {
	case http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", retryAfter)
	case http.StatusTooManyRequests:
		c.Response().Header().Set("Retry-After", "1") // a customer key's request ends within a second or so
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	if c.Request().Method != http.MethodHead {
		_ = encodeJSON(c.Response(), p)
	}
}

// finish fills in a problem's type, title and request id.
func finish(c echo.Context, p Problem) *Problem {
	p.Type = "urn:tally:problem:" + string(p.Code)
	p.Title = title(p.Code)
	p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	return &p
}

func title(code fault.Code) string {
	t := strings.ReplaceAll(string(code), "_", " ")
	t = strings.ReplaceAll(t, "json", "JSON")
	return strings.ToUpper(t[:1]) + t[1:]
}
