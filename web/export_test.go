package web

// PortalPlacesHeld is how many portal sessions and customers hold places
// of the bound on requests in flight (inflight.go): 0 and 0 once every
// request has been answered.
func PortalPlacesHeld(p *Pages) (sessions, customers int) {
	return p.inFlight.sessions.Held(), p.inFlight.customers.Held()
}

// PortalInFlight is the bound on a portal customer's requests in flight.
const PortalInFlight = portalInFlight

// CustomerInFlight is how many portal requests of the customer hold a
// place of the bound (past the session's lookup, in their handler).
func CustomerInFlight(p *Pages, customer string) int { return p.inFlight.customers.InFlight(customer) }
