package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/tally-ledger/tally/internal/inflight"
	"github.com/tally-ledger/tally/ledger"
)

// portalInFlight is how many portal pages one customer may have in flight
// on a server at once, as a customer key may have requests
// (api.customerInFlight): a person loads a page at a time in each tab (the
// pages run no script; the style sheet and icon are static, and cached),
// while one session's script asking for 64 pages at once would take the
// cores the partners' writes need, as a customer key's 64 requests did.
//
// The bound is per customer, over all their sessions: a session is cheap to
// open (every sign-in with the customer's key, every portal link a partner
// asks for, opens another), so a bound per session alone would let one
// customer hold any number. A customer's own pages are all it can hold
// back: another customer's, the sign-in pages, the portal links and the
// static files are counted apart or not at all, and sign-out stays
// reachable. The API's customer keys are counted apart (by key, in package
// api): a customer's app and their portal do not wait on each other.
const portalInFlight = 8

// portalBounds count the portal's requests in flight: by the session
// cookie sent, before the session is looked up, so that one session's
// excess is refused reading nothing; and by customer, once it is known.
type portalBounds struct {
	sessions  *inflight.Bound[string] // by the SHA-256 of the cookie's value
	customers *inflight.Bound[string] // by customer id
}

func newPortalBounds() portalBounds {
	return portalBounds{sessions: inflight.New[string](portalInFlight), customers: inflight.New[string](portalInFlight)}
}

// sessionBound refuses a portal request (busy) when the session cookie it
// carries has portalInFlight requests in flight already, before the
// session is looked up: the refusal reads and writes nothing. A request
// without the cookie passes (it is answered signed out).
func (p *Pages) sessionBound(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Request().Cookie(cookieName(c, sessionCookie(kindPortal)))
		if err != nil || ck.Value == "" {
			return next(c)
		}
		k := string(hash(ck.Value))
		if !p.inFlight.sessions.Take(k) {
			return p.busy(c)
		}
		defer p.inFlight.sessions.Give(k)
		return next(c)
	}
}

// customerBound refuses a portal request (busy) when its session's
// customer has portalInFlight requests in flight already, over all their
// sessions. It runs after the session middleware, which found the session.
func (p *Pages) customerBound(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := customerOf(c)
		if !p.inFlight.customers.Take(id) {
			c.Set(sessionContext, nil) // the same page as sessionBound's, which knows no session
			return p.busy(c)
		}
		defer p.inFlight.customers.Give(id)
		return next(c)
	}
}

// busy answers a portal request refused by the bound: 429 with
// Retry-After: 1, a page in the request's language saying to try again in
// a moment, with a link to try again (the page itself for a GET, the page a
// form came from for a POST, which did nothing). It reads nothing.
func (p *Pages) busy(c echo.Context) error {
	again := c.Request().URL.RequestURI()
	if c.Request().Method == http.MethodPost {
		again = formPage(c)
		c.Set(langBack, again)
	}
	c.Response().Header().Set("Retry-After", "1") // a page is answered within a second or so
	return p.render(c, http.StatusTooManyRequests, "busy", "busy.title", map[string]string{"Again": again})
}

// formPage is the page that shows the form a portal POST came from.
func formPage(c echo.Context) string {
	switch c.Path() {
	case "/portal/redeem":
		if sku := c.FormValue("sku"); ledger.ValidCustomerID(sku) {
			return "/portal/redeem/" + sku
		}
		return "/portal/catalog"
	case "/portal/redemptions/:id/cancel":
		return "/portal/redemptions/" + url.PathEscape(c.Param("id"))
	}
	return "/portal"
}
