// Package api is Tally's REST API on Echo: it translates HTTP to calls of
// the services (loyalty, catalog, prepaid, finance and the ledger) and
// back, authenticates and authorises every request, and answers errors as
// application/problem+json. It holds no business rules and no SQL.
//
// The handlers of each resource are in the file named for it (customers,
// events, rules, campaigns, products, redemptions, movements, accounts,
// entries, reports, reconciliation, jobs, notifications); server.go lists
// the routes.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/inflight"
	"github.com/tally-ledger/tally/internal/turns"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/notify/webhook"
	"github.com/tally-ledger/tally/prepaid"
)

// Config is what the API needs from its wiring: the services, all on the
// same ledger.
type Config struct {
	// Ledger answers accounts, entries and API keys.
	Ledger *ledger.Ledger
	// Loyalty is the loyalty programme: customers, rules, campaigns,
	// partner events, expiry, a customer's balances and statement.
	Loyalty *loyalty.Service
	// Catalog is the points catalogue and its redemptions.
	Catalog *catalog.Service
	// Prepaid is prepaid money: deposits, charges, withdrawals.
	Prepaid *prepaid.Service
	// Finance answers the reports and the reconciliation.
	Finance *finance.Service
	Log     *slog.Logger
	// OpenAPI is the spec served at /openapi.yaml.
	OpenAPI []byte
	// Ready reports whether the service can serve (database reachable,
	// migrations current); /readyz answers 503 while it fails.
	Ready func(context.Context) error
	// Registry receives the API's metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Pages, when set, are served beside the API (pages.go).
	Pages Pages
	// Reads, when set, are standbys that serve the reads marked onReplica
	// (replicas.go).
	Reads *Reads
	// Webhooks manages webhook endpoints and their delivery log; nil is a
	// service that allows no host (its dispatcher is cmd/tally's to run).
	Webhooks *webhook.Service
	// PublicURL is the scheme and host the pages are reached at
	// ("https://loyalty.example.com"), which portal links are built on;
	// empty builds them on the request's own scheme and Host (development).
	PublicURL string
	// Turns are the heavy reads' turns, shared with the console's pages
	// (web.Config.Turns); nil is turns of the API's own (turns.Default).
	Turns *turns.Turns
}

// Server is the HTTP API.
type Server struct {
	// turns are the heavy reads' (heavy.go).
	turns   *turns.Turns
	ledger  *ledger.Ledger
	loyalty *loyalty.Service
	catalog *catalog.Service
	prepaid *prepaid.Service
	finance *finance.Service
	log     *slog.Logger
	openapi []byte
	ready   func(context.Context) error
	metrics *metrics
	keys    *keyCache
	// inFlight bounds each customer key's requests in flight (inflight.go).
	inFlight *inflight.Bound[int64]
	// routing serves reads from standbys; nil without (replicas.go).
	routing *routing
	// reading tells the event writers of a read in flight (loyalty's
	// Reading).
	reading func() (done func())
	pages   Pages
	// publicURL is Config.PublicURL, without a trailing slash.
	publicURL string
	// consoleCSV serves the console's CSV downloads (pages.go).
	consoleCSV *echo.Echo
	// webhooks is Config.Webhooks (webhooks.go).
	webhooks *webhook.Service
	echo     *echo.Echo
}

// New builds the API's routes and middleware.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Webhooks == nil {
		cfg.Webhooks = webhook.New(cfg.Ledger, webhook.Config{})
	}
	s := &Server{ledger: cfg.Ledger, loyalty: cfg.Loyalty, catalog: cfg.Catalog, prepaid: cfg.Prepaid, finance: cfg.Finance,
		log: cfg.Log, openapi: cfg.OpenAPI, ready: cfg.Ready, reading: cfg.Loyalty.Reading, keys: &keyCache{}, inFlight: newInFlight(),
		publicURL: strings.TrimRight(cfg.PublicURL, "/"), webhooks: cfg.Webhooks, turns: cfg.Turns}
	if s.turns == nil {
		s.turns = turns.Default()
	}
	s.metrics = newMetrics(cfg.Registry, cfg.Ledger, cfg.Loyalty, cfg.Webhooks)
	cfg.Ledger.OnKeyRevoked(s.keys.forget)

	e := newEcho()
	e.HTTPErrorHandler = s.errorHandler
	e.Use(safeRequestID, middleware.RequestID())
	e.Use(s.observe)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogLevel: 0,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.log.Error("panic", "err", err, "stack", string(stack))
			return err
		}}))
	e.Use(s.consistencyToken)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler))
	e.GET("/openapi.yaml", s.spec)

	v1 := routes{group: e.Group("/v1"), use: []echo.MiddlewareFunc{s.authenticate, textInput, s.readsFirst}}
	books := allow(ledger.RoleAdmin, ledger.RoleFinance)
	accountReaders := allow(ledger.RoleAdmin, ledger.RoleFinance, ledger.RoleCustomer)
	admin := allow(ledger.RoleAdmin)
	writers := allow(ledger.RoleAdmin, ledger.RolePartner)
	readers := allow(ledger.RoleAdmin, ledger.RoleFinance, ledger.RolePartner)
	redeemers := allow(ledger.RoleAdmin, ledger.RolePartner, ledger.RoleCustomer)

	// customers.go
	v1.POST("/customers", s.createCustomer, writers)
	v1.GET("/customers/:id", s.onReplica((*Server).getCustomer), accountReaders)
	v1.GET("/customers/:id/balances", s.onReplica((*Server).customerBalances), accountReaders)
	v1.GET("/customers/:id/statement", s.onReplica((*Server).customerStatement), accountReaders)
	v1.GET("/customers/:id/points/expiring", s.onReplica((*Server).expiringPoints), accountReaders)
	// events.go
	v1.POST("/events", s.postEvent, writers)
	v1.POST("/events/batch", s.postEventBatch, writers)
	// rules.go, campaigns.go
	v1.GET("/rules", s.getRules, readers)
	v1.GET("/rules/versions", s.listRuleVersions, readers)
	v1.PUT("/rules", s.putRules, admin)
	v1.POST("/campaigns", s.createCampaign, admin)
	v1.GET("/campaigns", s.listCampaigns, readers)
	// products.go, redemptions.go
	v1.POST("/products", s.createProduct, admin)
	v1.PATCH("/products/:sku", s.patchProduct, admin)
	v1.GET("/products", s.onReplica((*Server).listProducts), books)
	v1.GET("/customers/:id/catalog", s.onReplica((*Server).customerCatalog), accountReaders)
	v1.GET("/customers/:id/redemptions", s.onReplica((*Server).customerRedemptions), accountReaders)
	v1.POST("/redemptions", s.redeem, redeemers)
	v1.POST("/redemptions/:id/cancel", s.cancelRedemption, redeemers)
	// movements.go
	for _, kind := range []string{prepaid.Deposit, prepaid.Charge, prepaid.Withdrawal} {
		v1.POST("/"+kind+"s", s.moneyHandler(kind), writers)
		v1.POST("/"+kind+"s/:id/reversal", s.moneyReversal(kind), admin)
	}
	// accounts.go, entries.go
	v1.GET("/accounts", s.listAccounts, books)
	v1.GET("/accounts/:code", s.onReplica((*Server).getAccount), accountReaders)
	v1.GET("/accounts/:code/balance", s.onReplica((*Server).getBalance), accountReaders)
	v1.GET("/accounts/:code/postings", s.listPostings, accountReaders)
	v1.POST("/entries", s.postEntry, admin)
	v1.GET("/entries/:id", s.getEntry, books)
	v1.POST("/entries/:id/reversal", s.reverseEntry, admin)
	// reports.go, reconciliation.go
	v1.GET("/reports/trial-balance", s.heavy(s.onReplica((*Server).trialBalance)), books)
	v1.GET("/reports/rebates", s.heavy(s.onReplica((*Server).rebateReport)), books)
	v1.GET("/reports/points", s.heavy(s.onReplica((*Server).pointsReport)), books)
	v1.GET("/reports/segments", s.heavy(s.onReplica((*Server).segmentReport)), books)
	v1.GET("/reports/lifecycle", s.heavy(s.onReplica((*Server).lifecycleReport)), books)
	v1.GET("/reconciliation", s.heavy(s.reconcile), books)
	// A close reconciles and reads the month's figures over the whole
	// books, and a closed month's status renders them again: heavy reads,
	// which take turns with the reports.
	v1.POST("/periods/:month/close", s.heavy(s.closePeriod), books)
	v1.POST("/periods/:month/reopen", s.reopenPeriod, admin)
	v1.GET("/periods/:month", s.heavy(s.getPeriod), books)
	v1.GET("/audit/head", s.auditHead, books)
	v1.GET("/audit/verify", s.heavy(s.auditVerify), books)
	// jobs.go
	v1.POST("/jobs/expire", s.runExpiry, admin)
	v1.POST("/jobs/expire/runs/:id/undo", s.undoExpiry, admin)
	// notices.go
	v1.POST("/jobs/notices", s.runNotices, admin)
	v1.GET("/partners/:id/low-balance-threshold", s.getLowBalanceThreshold, writers)
	v1.PUT("/partners/:id/low-balance-threshold", s.putLowBalanceThreshold, writers)
	// notifications.go
	v1.GET("/notifications", s.listNotifications, readers)
	// webhooks.go
	s.mountWebhooks(v1)
	// pages.go
	if cfg.Pages != nil {
		s.pages = cfg.Pages
		s.mountPages(v1, books)
		s.pages.Observe(s.observePage)
	}

	s.echo = e
	if cfg.Reads != nil {
		s.useReads(cfg.Reads, cfg.Registry)
	}
	return s
}

// ServeHTTP implements http.Handler: the pages' paths go to the pages
// (pages.go), the others to the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		// HEAD is GET without the answer's body (RFC 9110, 9.3.2), which
		// every server must support: a monitor or a link checker asking
		// HEAD /healthz or a page got 405, 404 or the signed-out page. It
		// is served as the GET (and logged and counted as one); net/http
		// drops the body of an answer to a HEAD.
		get := r.Clone(r.Context())
		get.Method = http.MethodGet
		r = get
	}
	if s.pages != nil && strings.HasPrefix(r.URL.Path, "/console/csv/") {
		s.consoleCSV.ServeHTTP(w, r)
		return
	}
	if s.pages != nil && isPage(r.URL.Path) {
		s.pages.ServeHTTP(w, r)
		return
	}
	s.echo.ServeHTTP(w, r)
}

// observe logs each request as one JSON line with its request id, and
// records its metrics.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		method := methodLabel(req.Method)
		s.metrics.observe(method, route, res.Status, elapsed)
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(req.Context(), level, "request",
			"request_id", res.Header().Get(echo.HeaderXRequestID),
			"method", method, "path", clipPath(req.URL.Path), "route", route,
			"status", res.Status, "bytes", res.Size, "duration_ms", float64(elapsed.Microseconds())/1000,
			"key_id", keyOf(c).ID)
		return nil
	}
}

// readsFirst marks authenticated GET requests (but reports) as reads in
// flight, which the event writers let go first: it runs after
// authenticate, so a caller without a key cannot hold the writers back. A
// read is in flight until its answer starts, not until the client has
// taken all of it: a client that never reads its answer would otherwise
// hold every group back for the write timeout.
func (s *Server) readsFirst(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Reports stream for long: they would hold every group back.
		if c.Request().Method != http.MethodGet || strings.HasPrefix(c.Path(), "/v1/reports/") {
			return next(c)
		}
		done := sync.OnceFunc(s.reading())
		c.Response().Before(done)
		defer done()
		return next(c)
	}
}

func (s *Server) healthz(c echo.Context) error {
	return reply(c, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		if err := s.ready(c.Request().Context()); err != nil {
			s.log.Warn("not ready", "err", err)
			return fault.Errorf(fault.Unavailable, "not ready: the database is unreachable or its schema is not current")
		}
	}
	if st, syncs := s.replicaStatuses(); st != nil {
		body := map[string]any{"status": "ready", "replicas": st}
		if syncs != nil {
			body["synchronous_standbys"] = *syncs
		}
		return reply(c, http.StatusOK, body)
	}
	return reply(c, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) spec(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", s.openapi)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// newEcho is an Echo for one of the API's routers. TLS reaches the binary,
// which serves plain HTTP, only through a proxy that ends it and says so
// (X-Forwarded-Proto: https), from whatever address the proxy has (a cloud
// load balancer's or a CDN's is public): Scheme believes the proxy's
// headers from any address, as echo did before v4.16.5 (which believes
// them from private addresses only). A client that claims https over
// plain HTTP gets https links and Secure cookies its browser drops: it
// harms only itself.
func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.SchemeExtractor = echo.LegacySchemeExtractor()
	return e
}
