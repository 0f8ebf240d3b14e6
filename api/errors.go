package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Codes of the HTTP layer, beside the domain's (ledger.Code).
const (
	codeInvalidJSON          ledger.Code = "invalid_json"           // malformed JSON, unknown field, wrong type
	codeBodyTooLarge         ledger.Code = "body_too_large"         // body over the size limit
	codeUnsupportedMediaType ledger.Code = "unsupported_media_type" // body not application/json
	codeMethodNotAllowed     ledger.Code = "method_not_allowed"     // route exists, method does not
	codeUnavailable          ledger.Code = "unavailable"            // not ready to serve
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[ledger.Code]int{
	ledger.CodeInvalid:             http.StatusUnprocessableEntity,
	ledger.CodeInvalidAmount:       http.StatusUnprocessableEntity,
	ledger.CodeUnbalanced:          http.StatusUnprocessableEntity,
	ledger.CodeUnknownAccount:      http.StatusUnprocessableEntity,
	ledger.CodeAssetMismatch:       http.StatusUnprocessableEntity,
	ledger.CodeInsufficientFunds:   http.StatusUnprocessableEntity,
	ledger.CodeNotFound:            http.StatusNotFound,
	ledger.CodeIdempotencyConflict: http.StatusConflict,
	ledger.CodeAlreadyReversed:     http.StatusConflict,
	ledger.CodeNotReversible:       http.StatusConflict,
	ledger.CodeUnauthorized:        http.StatusUnauthorized,
	ledger.CodeForbidden:           http.StatusForbidden,
	ledger.CodeInternal:            http.StatusInternalServerError,
	codeInvalidJSON:                http.StatusBadRequest,
	codeBodyTooLarge:               http.StatusRequestEntityTooLarge,
	codeUnsupportedMediaType:       http.StatusUnsupportedMediaType,
	codeMethodNotAllowed:           http.StatusMethodNotAllowed,
	codeUnavailable:                http.StatusServiceUnavailable,

	loyalty.CodeUnknownCustomer:   http.StatusUnprocessableEntity,
	loyalty.CodeCustomerConflict:  http.StatusConflict,
	loyalty.CodeSelfReferral:      http.StatusUnprocessableEntity,
	loyalty.CodeUnknownReferrer:   http.StatusUnprocessableEntity,
	loyalty.CodeReferrerImmutable: http.StatusConflict,
	loyalty.CodeUnknownShipment:   http.StatusUnprocessableEntity,
	loyalty.CodeDuplicateShipment: http.StatusConflict,
	loyalty.CodeRefundExceeds:     http.StatusUnprocessableEntity,
	loyalty.CodeAlreadyRated:      http.StatusConflict,
	loyalty.CodeCampaignConflict:  http.StatusConflict,
	loyalty.CodeInvalidRules:      http.StatusUnprocessableEntity,

	loyalty.CodeUnknownProduct:     http.StatusUnprocessableEntity,
	loyalty.CodeProductExists:      http.StatusConflict,
	loyalty.CodeInsufficientPoints: http.StatusUnprocessableEntity,
	loyalty.CodeNotEligible:        http.StatusUnprocessableEntity,
	loyalty.CodeOutOfStock:         http.StatusConflict,
	loyalty.CodeOutsideWindow:      http.StatusUnprocessableEntity,
	loyalty.CodeLimitReached:       http.StatusUnprocessableEntity,
	loyalty.CodeAlreadyCancelled:   http.StatusConflict,
}

// Problem is an RFC 9457 problem document with Tally's stable code.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      ledger.Code       `json:"code"`
	Account   string            `json:"account,omitempty"`
	Errors    map[string]string `json:"errors,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

func problemFor(err error) Problem {
	var le *ledger.Error
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
		code := map[int]ledger.Code{
			http.StatusNotFound:              ledger.CodeNotFound,
			http.StatusMethodNotAllowed:      codeMethodNotAllowed,
			http.StatusRequestEntityTooLarge: codeBodyTooLarge,
			http.StatusUnsupportedMediaType:  codeUnsupportedMediaType,
			http.StatusUnauthorized:          ledger.CodeUnauthorized,
			http.StatusForbidden:             ledger.CodeForbidden,
		}[he.Code]
		if code == "" {
			code = codeInvalidJSON
			if he.Code >= 500 {
				code = ledger.CodeInternal
			}
		}
		detail := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			detail = m
		}
		return Problem{Code: code, Status: he.Code, Detail: detail}
	}
	return Problem{Code: ledger.CodeInternal, Status: http.StatusInternalServerError,
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
			"method", c.Request().Method, "path", c.Request().URL.Path)
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

func title(code ledger.Code) string {
	t := strings.ReplaceAll(string(code), "_", " ")
	t = strings.ReplaceAll(t, "json", "JSON")
	return strings.ToUpper(t[:1]) + t[1:]
}
