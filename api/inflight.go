package api

import (
	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/inflight"
	"github.com/tally-ledger/tally/ledger"
)

// customerInFlight is how many requests one customer key may have in
// flight on a server at once. A customer's app needs a few at a time (a
// balance, a statement, a catalogue); one key sending dozens at once took
// the cores the partners' writes need (64 at once held a partner's event
// 300 ms, where it took 2.5). Partner keys are not bounded here: their
// systems post at volume, many at once, and the event writers group them.
// (The portal's pages bound their customers the same way: package web.)
const customerInFlight = 8

// newInFlight counts the requests each customer key has in flight, by key id.
func newInFlight() *inflight.Bound[int64] { return inflight.New[int64](customerInFlight) }

// bounded answers a customer key's request beyond customerInFlight with
// 429 too_many_requests (Retry-After: 1), reading nothing; other keys pass.
func (s *Server) bounded(c echo.Context, key ledger.APIKey, next echo.HandlerFunc) error {
	if key.Role != ledger.RoleCustomer {
		return next(c)
	}
	if !s.inFlight.Take(key.ID) {
		return fault.Errorf(fault.TooManyRequests, "this key has %d requests in flight, as many as a customer key may: send it again when one has been answered", customerInFlight)
	}
	defer s.inFlight.Give(key.ID)
	return next(c)
}
