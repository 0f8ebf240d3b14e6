package ledger

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Clients branch on it; it
// never changes meaning once published (see openapi.yaml).
type Code string

// The error vocabulary of the service.
const (
	CodeInvalid             Code = "invalid"              // input fails validation
	CodeInvalidAmount       Code = "invalid_amount"       // not a decimal, or finer than the asset's scale
	CodeUnbalanced          Code = "unbalanced"           // postings do not sum to zero per asset
	CodeUnknownAccount      Code = "unknown_account"      // code not in the chart of accounts
	CodeAssetMismatch       Code = "asset_mismatch"       // posting's asset differs from its account's
	CodeInsufficientFunds   Code = "insufficient_funds"   // a non-negative account would go below zero
	CodeNotFound            Code = "not_found"            // no such resource
	CodeIdempotencyConflict Code = "idempotency_conflict" // key reused with a different request
	CodeAlreadyReversed     Code = "already_reversed"     // entry has been reversed before
	CodeNotReversible       Code = "not_reversible"       // a reversal cannot itself be reversed
	CodeUnauthorized        Code = "unauthorized"         // missing or unknown API key
	CodeForbidden           Code = "forbidden"            // key's role or scope does not allow it
	CodeInternal            Code = "internal"             // a bug or an outage: logged, never detailed
)

// Error is the one error type the domain returns to its callers.
type Error struct {
	Code    Code
	Message string
	// Fields names the offending input fields, when there are any.
	Fields map[string]string
	// Account is the account that caused the error, when there is one.
	Account string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode is the Code of err: "" for nil, CodeInternal when err is not
// an *Error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
