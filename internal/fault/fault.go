// Package fault is Tally's one error vocabulary: the stable codes clients
// branch on, the Error type every package returns them in, and the one
// mapping from PostgreSQL's error codes to what they mean (postgres.go).
//
// Every package returns its refusals as *Error with a code from here, and
// api maps the codes to HTTP statuses. A code's string is part of the API
// (openapi.yaml): it never changes meaning once published. fault imports no
// other package of Tally.
package fault

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code.
type Code string

// The codes of the books (the ledger).
const (
	Invalid             Code = "invalid"              // input fails validation
	InvalidAmount       Code = "invalid_amount"       // not a decimal, or finer than the asset's scale
	Unbalanced          Code = "unbalanced"           // postings do not sum to zero per asset
	UnknownAccount      Code = "unknown_account"      // code not in the chart of accounts
	AssetMismatch       Code = "asset_mismatch"       // posting's asset differs from its account's
	InsufficientFunds   Code = "insufficient_funds"   // a non-negative account would go below zero
	NotFound            Code = "not_found"            // no such resource
	IdempotencyConflict Code = "idempotency_conflict" // key or id reused with a different request
	AlreadyReversed     Code = "already_reversed"     // entry has been reversed before
	NotReversible       Code = "not_reversible"       // a reversal, or an entry corrected through its own flow
	WithdrawnSince      Code = "withdrawn_since"      // a later withdrawal's clawback was priced on the movement
	RebateDrawnSince    Code = "rebate_drawn_since"   // a later charge drew rebate the movement's reversal would spare
	Unauthorized        Code = "unauthorized"         // missing or unknown API key
	Forbidden           Code = "forbidden"            // key's role or scope does not allow it
	Internal            Code = "internal"             // a bug or an outage: logged, never detailed
)

// The codes of closed periods.
const (
	PeriodClosed         Code = "period_closed"         // effective in (or closing) a month already closed
	PeriodOutOfOrder     Code = "period_out_of_order"   // months close in order; only the latest reopens
	PeriodNotEnded       Code = "period_not_ended"      // a month closes once it has ended
	PeriodNotClosed      Code = "period_not_closed"     // reopening a month that is not closed
	ReconciliationFailed Code = "reconciliation_failed" // a month closes only while reconciliation passes
	PeriodBusy           Code = "period_busy"           // a close gave up waiting for the writers in flight: try again
)

// The codes of the loyalty programme.
const (
	UnknownCustomer   Code = "unknown_customer"         // no such customer
	CustomerConflict  Code = "customer_conflict"        // customer id taken, with other data
	SelfReferral      Code = "self_referral"            // a customer cannot refer themself
	UnknownReferrer   Code = "unknown_referrer"         // referrer must be registered first
	ReferrerImmutable Code = "referrer_immutable"       // a referrer never changes
	UnknownShipment   Code = "unknown_shipment"         // no such shipment for the customer
	DuplicateShipment Code = "duplicate_shipment"       // shipment already completed by another event
	RefundExceeds     Code = "refund_exceeds_shipment"  // refunds would exceed the shipment
	AlreadyRated      Code = "already_rated"            // feedback is once per shipment
	BeforeShipment    Code = "occurred_before_shipment" // a refund or a rating dated before its shipment
	ShipmentRefunded  Code = "shipment_refunded"        // a shipment refunded in full earns no rating
	CampaignConflict  Code = "campaign_conflict"        // campaign id taken, with other data
	InvalidRules      Code = "invalid_rules"            // rule set inconsistent
	OccurredAtTooOld  Code = "occurred_at_too_old"      // occurred_at before the back-dating window
	AsOfInFuture      Code = "as_of_in_future"          // a job asked to act ahead of now
	AlreadyUndone     Code = "already_undone"           // expiry run undone before
)

// The codes of the catalogue and its redemptions.
const (
	UnknownProduct     Code = "unknown_product"     // no such (active) product
	ProductExists      Code = "product_exists"      // SKU taken
	InsufficientPoints Code = "insufficient_points" // too few available points
	NotEligible        Code = "not_eligible"        // customer's level too low
	OutOfStock         Code = "out_of_stock"        // featured stock exhausted
	OutsideWindow      Code = "outside_window"      // featured product not on offer now
	LimitReached       Code = "limit_reached"       // per-customer limit reached; a partner's webhook endpoints
	AlreadyCancelled   Code = "already_cancelled"   // redemption cancelled before
	AmbiguousID        Code = "ambiguous_id"        // an admin names an id several spaces hold: name the space
)

// The codes of webhooks.
const (
	HostNotAllowed      Code = "host_not_allowed"     // a webhook URL's host is not on the allow-list, or is a private address
	UnknownNotification Code = "unknown_notification" // no such notification for the endpoint
)

// The codes of the HTTP layer.
const (
	InvalidJSON          Code = "invalid_json"           // malformed JSON, unknown field, wrong type
	BodyTooLarge         Code = "body_too_large"         // body over the size limit
	UnsupportedMediaType Code = "unsupported_media_type" // body not application/json
	MethodNotAllowed     Code = "method_not_allowed"     // route exists, method does not
	Unavailable          Code = "unavailable"            // not ready to serve
	ReportsBusy          Code = "reports_busy"           // every turn of the heavy reads is taken: retry after Retry-After
	TooManyRequests      Code = "too_many_requests"      // a customer key has as many requests in flight as it may: retry after Retry-After
	DatabaseUnavailable  Code = "database_unavailable"   // primary lost or read-only (failover): retry after Retry-After
	MalformedRequest     Code = "malformed_request"      // request line or headers cannot be parsed
)

// Error is the one error type Tally's packages return to their callers.
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

// InvalidField is an Invalid error about one input field.
func InvalidField(field, message string) *Error {
	return &Error{Code: Invalid, Message: field + ": " + message, Fields: map[string]string{field: message}}
}

// CodeOf is the Code of err: "" for nil, Internal when err is not an
// *Error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
