package api

import (
	"context"
	"errors"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/replica"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// Reads from standbys. The read operations marked onReplica in New
// (balances, statements, expiring points, catalogue views, accounts'
// balances, reports and the console's CSV) run on a standby in rotation
// (replica.Set: answering, and lagging by at most its bound) with the
// services built on that standby's pool; every other operation, and every
// write, runs on the primary.
//
// Read your writes: with standbys configured, every successful write
// answers the header Tally-Consistency-Token, the primary's WAL position
// once it committed, or primaryToken when that position could not be read
// in time. A read that sends a position back is served by a standby that
// has replayed that far (waiting up to the set's bound), else by the
// primary; one that sends primaryToken (or anything that is not a
// position) by the primary. A read without one may be served by any
// standby in rotation: it may be as old as the lag bound. Tally-Read-From
// says which answered.

// ConsistencyHeader carries the consistency token.
const ConsistencyHeader = "Tally-Consistency-Token"

// primaryToken is the consistency token of a write whose WAL position the
// primary did not tell within replica.TokenTimeout (busy, failing over):
// the write committed, and a read that sends it back is served by the
// primary, which holds it. A client merging tokens keeps it over any
// position, until a later write's token replaces it.
const primaryToken = "primary"

// readFromHeader says where a read was served from: primary or standby.
const readFromHeader = "Tally-Read-From"

// Reads are the standbys reads may be served from.
type Reads struct {
	Set *replica.Set
	// Services are the services on each standby's pool, in the order of
	// Set.Nodes.
	Services []Services
}

// Services are the API's services on one pool.
type Services struct {
	Ledger  *ledger.Ledger
	Loyalty *loyalty.Service
	Catalog *catalog.Service
	Prepaid *prepaid.Service
	Finance *finance.Service
}

// routing is the read side of a Server with standbys.
type routing struct {
	set    *replica.Set
	byNode map[*replica.Node]*Server
	reads  *prometheus.CounterVec
	// unreadTokens counts the writes answered primaryToken.
	unreadTokens prometheus.Counter
	// fallbacks counts the reads a standby began and the primary
	// answered, by why (fallbackReason).
	fallbacks *prometheus.CounterVec
}

// useReads gives s its standbys: a copy of s for each, with the services
// on that standby's pool, and their metrics.
func (s *Server) useReads(r *Reads, reg *prometheus.Registry) {
	rt := &routing{set: r.Set, byNode: map[*replica.Node]*Server{},
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_reads_total", Help: "Reads of the operations standbys may serve, by where they were served: primary or standby.",
		}, []string{"from"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tally_standby_fallbacks_total", Help: "Reads a standby began and the primary answered, by why: lost (the standby went away or refused as read-only), recovery_conflict (the standby cancelled the query to replay the primary's WAL), behind (the standby did not hold yet what the request names).",
		}, []string{"reason"}),
		unreadTokens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_consistency_tokens_unread_total", Help: "Writes answered the consistency token \"primary\": the primary's WAL position could not be read in time.",
		})}
	for i, n := range r.Set.Nodes {
		cp := *s
		svc := r.Services[i]
		cp.ledger, cp.loyalty, cp.catalog, cp.prepaid, cp.finance = svc.Ledger, svc.Loyalty, svc.Catalog, svc.Prepaid, svc.Finance
		rt.byNode[n] = &cp
		labels := prometheus.Labels{"replica": n.Name}
		status := func(f func(replica.Status) float64) func() float64 {
			return func() float64 {
				for _, st := range r.Set.Statuses() {
					if st.Name == n.Name {
						return f(st)
					}
				}
				return 0
			}
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_replica_in_rotation", ConstLabels: labels,
				Help: "1 when the standby answers, is in recovery and lags within the bound: it serves reads."},
				status(func(st replica.Status) float64 {
					if st.InRotation {
						return 1
					}
					return 0
				})),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_replica_lag_seconds", ConstLabels: labels,
				Help: "How long ago the primary's WAL was where the standby's replay is now."},
				status(func(st replica.Status) float64 { return st.LagSeconds })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_replica_lag_bytes", ConstLabels: labels,
				Help: "Bytes of the primary's WAL the standby has not replayed yet."},
				status(func(st replica.Status) float64 { return float64(st.LagBytes) })),
		)
	}
	reg.MustRegister(rt.reads, rt.fallbacks, rt.unreadTokens, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_synchronous_standbys",
		Help: "Standbys the primary counts as synchronous (sync or quorum): 0 means commits are acknowledged from the primary alone; NaN when it did not answer."},
		func() float64 {
			if n, ok := r.Set.SyncStandbys(); ok {
				return float64(n)
			}
			return math.NaN()
		}))
	s.routing = rt
}

// onReplica runs a read handler on a standby that may serve it, else on
// the primary; should the standby fail it (gone, or refusing as
// read-only), cancel it for a conflict with recovery, or refuse what it
// may only not hold yet (behind), before anything of the answer was
// sent, the primary answers instead. A report the standby cancels once
// its first rows were sent ends as a failed transfer (stream.fail): the
// client asks again.
func (s *Server) onReplica(h func(*Server, echo.Context) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.routing == nil {
			return h(s, c)
		}
		n := s.chooseReplica(c)
		if n == nil {
			return s.fromPrimary(h, c)
		}
		c.Response().Header().Set(readFromHeader, "standby")
		err := h(s.routing.byNode[n], c)
		if reason := fallbackReason(err); reason != "" && !c.Response().Committed {
			s.routing.fallbacks.WithLabelValues(reason).Inc()
			if reason != "behind" {
				s.log.Warn("a standby failed a read: the primary answers it", "standby", n.Name, "reason", reason,
					"route", c.Path(), "err", err)
			}
			return s.fromPrimary(h, c)
		}
		s.routing.reads.WithLabelValues("standby").Inc()
		return err
	}
}

// fallbackReason is why the primary should answer a read a standby failed
// with err, "" when the standby's answer stands: lost (the standby is
// gone, or refuses as read-only: fault.DatabaseLost), recovery_conflict
// (it cancelled the query to replay the primary's WAL: the same read
// asked again may meet the same replay, the primary has none), behind
// (behind).
func fallbackReason(err error) string {
	switch {
	case err == nil:
		return ""
	case fault.DatabaseLost(err):
		return "lost"
	case fault.RecoveryConflict(err):
		return "recovery_conflict"
	case behind(err):
		return "behind"
	}
	return ""
}

// behind reports whether a standby's refusal may be only its lag: what the
// request names (a customer, an account, a product, an entry or a page's
// cursor, handed out by a node that had replayed more) is not on the
// standby yet. The primary answers such a request: a standby in rotation
// may lag, but must not refuse what the client was already shown.
func behind(err error) bool {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		return false
	}
	switch fe.Code {
	case fault.NotFound, fault.UnknownCustomer, fault.UnknownProduct:
		return true
	case fault.Invalid:
		_, cursor := fe.Fields["cursor"]
		return cursor
	}
	return false
}

func (s *Server) fromPrimary(h func(*Server, echo.Context) error, c echo.Context) error {
	c.Response().Header().Set(readFromHeader, "primary")
	s.routing.reads.WithLabelValues("primary").Inc()
	return h(s, c)
}

// chooseReplica is the standby that may serve the request, nil for the
// primary. A token that is not a WAL position (primaryToken, or one that
// was garbled) is served by the primary.
func (s *Server) chooseReplica(c echo.Context) *replica.Node {
	var min uint64
	if tok := c.Request().Header.Get(ConsistencyHeader); tok != "" {
		if tok == primaryToken {
			return nil
		}
		lsn, err := replica.ParseLSN(tok)
		if err != nil {
			return nil
		}
		min = lsn
	}
	return s.routing.set.Choose(c.Request().Context(), min)
}

// consistencyToken adds Tally-Consistency-Token to every successful
// answer of a write, when there are standbys: the primary's position,
// else primaryToken. A committed write is never failed for its token, nor
// answered without one.
func (s *Server) consistencyToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		m := c.Request().Method
		if s.routing == nil || m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions {
			return next(c)
		}
		res := c.Response()
		res.Before(func() {
			if res.Status < 200 || res.Status >= 300 {
				return
			}
			// Past the shared read's own bound nobody would hear the answer;
			// the write is answered all the same, with the token that sends
			// the reads presenting it to the primary.
			ctx, cancel := context.WithTimeout(c.Request().Context(), replica.TokenTimeout)
			defer cancel()
			lsn, err := s.routing.set.Token(ctx)
			if err != nil && c.Request().Context().Err() != nil {
				return // the client is gone
			}
			if err != nil {
				s.routing.unreadTokens.Inc()
				s.log.Warn("the primary's WAL position could not be read: the write is answered the consistency token "+primaryToken,
					"route", c.Path(), "err", err)
				res.Header().Set(ConsistencyHeader, primaryToken)
				return
			}
			res.Header().Set(ConsistencyHeader, replica.FormatLSN(lsn))
		})
		return next(c)
	}
}

// replicaStatuses are the standbys' states for /readyz, and how many
// standbys the primary counts as synchronous (nil when it did not
// answer); nil without standbys.
func (s *Server) replicaStatuses() ([]replica.Status, *int) {
	if s.routing == nil {
		return nil, nil
	}
	n, ok := s.routing.set.SyncStandbys()
	if !ok {
		return s.routing.set.Statuses(), nil
	}
	return s.routing.set.Statuses(), &n
}
