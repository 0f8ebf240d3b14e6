// Package web serves Tally's two faces for people, in the same binary as the
// API: the customer portal (/portal, mobile first, simplified Chinese by
// default and English) and the finance console (/console). The pages are
// server-rendered from the Go templates and the style sheet embedded in the
// binary; they run no script of their own, so the Content-Security-Policy
// allows none.
//
// It owns the portal_links and web_sessions tables and their SQL: one-time
// portal links a partner asks for on behalf of a customer, and server-side
// sessions behind an HttpOnly cookie, with a CSRF token that every form
// carries. It computes nothing of the books: every number on a page comes
// from the services the API answers with (loyalty, catalog, prepaid,
// finance). It never names a table of another package.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/turns"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Config is what the pages need: the services the API uses, on one ledger,
// and the pool of the same database for the sessions.
type Config struct {
	Pool    *pgxpool.Pool
	Ledger  *ledger.Ledger
	Loyalty *loyalty.Service
	Catalog *catalog.Service
	Prepaid *prepaid.Service
	Finance *finance.Service
	// ReadFinance, when set, is the finance service on a standby that may
	// serve the console's reports now, nil when none may (the primary's
	// serves them).
	ReadFinance func(context.Context) *finance.Service
	Log         *slog.Logger
	// Turns are the heavy reads' turns, which the console's pages take as
	// the API's reports do (api.Config.Turns); nil is turns of their own.
	Turns *turns.Turns
	// PublicURL is the origin the pages are reached at, as a browser
	// writes it (scheme://host[:port], lower case, no default port, no
	// slash: serve's publicOrigin of TALLY_PUBLIC_URL), empty when not set: a form
	// posted from it is this site's, whatever Host a proxy in front
	// forwards (for a browser that sends Origin but not Sec-Fetch-Site).
	PublicURL string
}

// Pages are the portal and the console.
type Pages struct {
	// origins tells a form posted from another origin (sameOrigin).
	origins *http.CrossOriginProtection
	// observer hears of each request answered (Observe).
	observer func(method, route string, status int, bytes int64, elapsed time.Duration)
	db       *pgxpool.Pool
	ledger   *ledger.Ledger
	loyalty  *loyalty.Service
	catalog  *catalog.Service
	prepaid  *prepaid.Service
	finance  *finance.Service
	// readFinance is Config.ReadFinance.
	readFinance func(context.Context) *finance.Service
	log         *slog.Logger
	turns       *turns.Turns
	// inFlight bounds each portal session's and customer's pages in
	// flight (inflight.go).
	inFlight portalBounds
	pages    map[string]*template.Template
	echo     *echo.Echo
}

// New parses the templates; it panics if they do not parse (they are
// embedded, so that is a bug caught by any test).
func New(cfg Config) *Pages {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pages{db: cfg.Pool, ledger: cfg.Ledger, loyalty: cfg.Loyalty, catalog: cfg.Catalog, prepaid: cfg.Prepaid,
		finance: cfg.Finance, readFinance: cfg.ReadFinance, log: cfg.Log, turns: cfg.Turns, inFlight: newPortalBounds(),
		pages: map[string]*template.Template{}}
	if p.turns == nil {
		p.turns = turns.Default()
	}
	p.origins = http.NewCrossOriginProtection()
	if cfg.PublicURL != "" {
		if err := p.origins.AddTrustedOrigin(cfg.PublicURL); err != nil {
			panic("web: PublicURL " + cfg.PublicURL + ": " + err.Error()) // serve made it an origin
		}
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		p.pages[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", name))
	}
	p.routes()
	return p
}

// ServeHTTP serves the pages: /, /portal/..., /console/... and /static/...
// (the style sheet and the icon).
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.echo.ServeHTTP(w, r) }

// Observe has fn told of every page request once it is answered: its
// method, its route (the pattern it matched, "unmatched" for none: never
// the path, which may hold a portal link's token), its status, the bytes
// of its answer and how long it took. Call it before the pages serve.
func (p *Pages) Observe(fn func(method, route string, status int, bytes int64, elapsed time.Duration)) {
	p.observer = fn
}

// observed tells the observer of each request, its errors answered first.
func (p *Pages) observed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		if p.observer != nil {
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			p.observer(c.Request().Method, route, c.Response().Status, c.Response().Size, time.Since(start))
		}
		return nil
	}
}

// routes builds the pages' own router, whose errors are pages too.
func (p *Pages) routes() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.SchemeExtractor = echo.LegacySchemeExtractor() // overTLS
	p.echo = e
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusNotFound {
			err = fault.Errorf(fault.NotFound, "no such page")
		} else if errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed {
			err = fault.Errorf(fault.NotFound, "no such page")
		}
		if ferr := p.fail(c, err); ferr != nil {
			p.log.Error("page", "err", ferr)
		}
	}
	e.Use(p.observed)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			p.log.Error("page panic", "err", err, "stack", string(stack))
			return err
		}}))
	e.Use(p.headers, p.sameOrigin, p.limitForm, p.textParams)
	static, _ := fs.Sub(staticFiles, "static")
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", staticHandler(static))))
	e.GET("/", func(c echo.Context) error { return p.render(c, http.StatusOK, "index", "index.title", nil) })

	portal := e.Group("/portal")
	portal.GET("/enter/:token", p.enterForm)
	portal.POST("/enter/:token", p.enter)
	portal.GET("/signin", p.customerSignInForm)
	portal.POST("/signin", p.customerSignIn)
	// A signed-in customer's pages are bounded (inflight.go): per session
	// before its lookup, per customer after. The sign-in pages and the
	// links above are not, nor is sign-out, which stays reachable.
	in := portal.Group("", p.sessionBound, p.session(kindPortal), p.customerBound)
	in.GET("", p.overview)
	in.GET("/statement", p.statement)
	in.GET("/catalog", p.catalogPage)
	in.GET("/redeem/:sku", p.redeemConfirm)
	in.POST("/redeem", p.redeem)
	in.GET("/redemptions", p.redemptions)
	in.GET("/redemptions/:id", p.redemptionPage)
	in.POST("/redemptions/:id/cancel", p.cancel)
	in.GET("/prepaid", p.prepaidPage)
	portal.POST("/signout", p.signOut(kindPortal), p.session(kindPortal))

	console := e.Group("/console")
	console.GET("/signin", p.consoleSignInForm)
	console.POST("/signin", p.consoleSignIn)
	cin := console.Group("", p.session(kindConsole))
	// Each builds a report whole, or reconciles the books: they take a
	// turn, as the API's reports do.
	cin.GET("", p.heavy(p.trialBalance))
	cin.GET("/rebates", p.heavy(p.rebates))
	cin.GET("/points", p.heavy(p.points))
	cin.GET("/segments", p.heavy(p.segments))
	cin.GET("/reconciliation", p.heavy(p.reconciliation))
	cin.POST("/signout", p.signOut(kindConsole))
}

// staticHandler serves the embedded assets, cached for a day.
func staticHandler(root fs.FS) http.Handler {
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows the page's own style sheet and images and
// nothing else: no script at all, no inline style, forms posted only here.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every page.
func (p *Pages) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// same-origin: no Referer leaves the site (a portal link's token is
		// in its path), and the site's own forms carry their Origin, which
		// no-referrer made "null": a browser without Sec-Fetch-Site then
		// had every form refused (sameOrigin).
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if overTLS(c) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// view is what every template receives: the page's language, session and
// data.
type view struct {
	Lang    string
	Title   string
	Path    string // the page's path with its query, for the language switch
	Session *session
	CSRF    string
	Nav     string // the current section, for aria-current
	Data    any
}

// T translates key into the page's language.
func (v view) T(key string, args ...any) string { return translate(v.Lang, key, args...) }

// Why says why a catalogue item cannot be redeemed now, with the figure
// that would change it where there is one: the level it needs, the points
// the customer lacks (of those available, which the catalogue shows).
func (v view) Why(it catalog.CatalogItem, available int64) string {
	switch {
	case it.Reason == nil:
		return ""
	case *it.Reason == fault.NotEligible && it.MinLevel != nil:
		return v.T("reason.needs_level", *it.MinLevel)
	case *it.Reason == fault.InsufficientPoints && it.PointsPrice > available:
		return v.T("reason.short_by", group(strconv.FormatInt(it.PointsPrice-available, 10)))
	}
	return v.T(reasonKey(it.Reason))
}

// CheckSaid is what a reconciliation check checks, in the page's language
// (its own English description where checksZH has no Chinese for it).
func (v view) CheckSaid(c ledger.Check) string {
	if zh, ok := checksZH[c.Name]; ok && v.Lang == langZH {
		return zh
	}
	return c.Description
}

// Say is a statement entry's wording in the page's language.
func (v view) Say(w loyalty.Wording) string { return say(v.Lang, w) }

// OtherLang is the language the switch offers.
func (v view) OtherLang() string {
	if v.Lang == langEN {
		return langZH
	}
	return langEN
}

// LangURL is the page's path with lang set to the other language.
func (v view) LangURL() string {
	path, query, _ := strings.Cut(v.Path, "?")
	var kept []string
	for _, kv := range strings.Split(query, "&") {
		if kv != "" && !strings.HasPrefix(kv, "lang=") {
			kept = append(kept, kv)
		}
	}
	kept = append(kept, "lang="+v.OtherLang())
	return path + "?" + strings.Join(kept, "&")
}

// langBack names, for a form whose path no GET serves, the page that the
// language switch of its answer (a refusal) leads to.
const langBack = "web.langBack"

// render writes the named page with status.
func (p *Pages) render(c echo.Context, status int, name, title string, data any) error {
	s, _ := c.Get(sessionContext).(*session)
	v := view{Lang: language(c), Title: title, Path: c.Request().URL.RequestURI(), Session: s, Data: data, Nav: name}
	if back, ok := c.Get(langBack).(string); ok && c.Request().Method != http.MethodGet {
		v.Path = back // a form's answer: its path is no page to switch to
	}
	if s != nil {
		v.CSRF = s.CSRF
	} else if tok, ok := c.Get(signinCSRFContext).(string); ok {
		v.CSRF = tok
	}
	var b strings.Builder
	if err := p.pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		return err
	}
	return c.HTML(status, b.String())
}

// fail answers an error as a page: the fault's status and a message in the
// page's language; an unexpected error is logged and shown as a 500 without
// its detail.
func (p *Pages) fail(c echo.Context, err error) error {
	var fe *fault.Error
	status, msg := http.StatusInternalServerError, "error.internal"
	detail := ""
	if errors.As(err, &fe) {
		status, detail = statusOf(fe.Code), fe.Message
		msg = "error." + string(fe.Code)
		if !hasMessage(msg) {
			msg = "error.generic"
		}
	} else if !errors.Is(err, context.Canceled) {
		p.log.Error("page", "path", c.Path(), "err", err)
	}
	return p.render(c, status, "error", "error.title", map[string]string{"Message": msg, "Detail": detail})
}

// heavy runs h, a console page that reads the whole books, when one of the
// heavy reads' turns is free; after waiting for one in vain it answers 503
// with Retry-After, as the API does.
func (p *Pages) heavy(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		release, err := p.turns.Take(c.Request().Context())
		if err != nil {
			if fault.CodeOf(err) == fault.ReportsBusy {
				c.Response().Header().Set("Retry-After", "5")
			}
			return p.fail(c, err)
		}
		defer release()
		return h(c)
	}
}

// statusOf is the page's status for a refusal: the API's for the codes a
// page meets, 422 for the others.
func statusOf(code fault.Code) int {
	switch code {
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.OutOfStock, fault.AlreadyCancelled, fault.IdempotencyConflict:
		return http.StatusConflict
	case fault.BodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case fault.ReportsBusy:
		return http.StatusServiceUnavailable
	}
	return http.StatusUnprocessableEntity
}

// shanghai is the zone dates are shown in.
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}()
