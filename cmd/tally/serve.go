package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	neturl "net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/tally-ledger/tally"
	"github.com/tally-ledger/tally/api"
	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/turns"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/migrations"
	"github.com/tally-ledger/tally/notify/webhook"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/web"
)

// serve runs the API until ctx is cancelled (SIGINT, SIGTERM), then stops
// accepting connections and finishes the requests in flight.
func serve(ctx context.Context, env environment, args []string) error {
	if len(args) > 0 {
		return usageError{msg: "serve takes no arguments"}
	}
	log, err := env.logger()
	if err != nil {
		return err
	}
	tuneGC(env)
	// The settings first: a mistyped one must not start the local cluster
	// only to be refused.
	writers, err := strconv.Atoi(env.get("TALLY_EVENT_WRITERS", "2"))
	if err != nil || writers < 1 {
		return usageError{msg: "TALLY_EVENT_WRITERS must be a positive number"}
	}
	noticesEvery, err := env.interval("TALLY_NOTICES_EVERY", "15m")
	if err != nil {
		return err
	}
	reconcileEvery, err := env.interval("TALLY_RECONCILE_EVERY", "24h")
	if err != nil {
		return err
	}
	sealEvery, err := env.interval("TALLY_SEAL_INTERVAL", "1s")
	if err != nil {
		return err
	}
	logKeep, err := env.logKeep("")
	if err != nil {
		return err
	}
	publicURL, ok := publicOrigin(env.getenv("TALLY_PUBLIC_URL"))
	if !ok {
		return usageError{msg: "TALLY_PUBLIC_URL must be a scheme and host such as https://loyalty.example.com"}
	}
	pool, url, closeDB, err := env.open(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	l := ledger.New(pool)

	newKey, err := bootstrapAdminKey(ctx, env, l)
	if err != nil {
		return err
	}

	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	ready := func(ctx context.Context) error {
		var version uint
		var dirty bool
		if err := pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if dirty || version != latest {
			return fmt.Errorf("schema at version %d (dirty %v), want %d", version, dirty, latest)
		}
		return nil
	}
	hooks, err := webhooksFromEnv(env, l)
	if err != nil {
		return err
	}
	customers := loyalty.New(pool, l, loyalty.WithEventWriters(writers))
	money := prepaid.New(l, customers)
	cat, books := catalog.New(pool, l, customers), finance.New(l, customers, money)
	reads, closeReads, err := env.reads(ctx, pool, log)
	if err != nil {
		return err
	}
	defer closeReads()
	heavy := turns.Default() // the API's heavy reads and the console's pages take the same turns
	pages := web.New(web.Config{Pool: pool, Ledger: l, Loyalty: customers, Catalog: cat, Prepaid: money, Finance: books,
		ReadFinance: consoleFinance(reads), Log: log, Turns: heavy, PublicURL: publicURL})
	srv := api.New(api.Config{Ledger: l, Loyalty: customers, Catalog: cat, Prepaid: money,
		Finance: books, Log: log, OpenAPI: tally.OpenAPI, Ready: ready, Pages: pages, PublicURL: publicURL, Reads: reads,
		Webhooks: hooks, Turns: heavy})

	ln, err := net.Listen("tcp", env.get("TALLY_ADDR", "127.0.0.1:8080"))
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(env.stdout, "tally: DATABASE_URL=%s\n", redact(url))
	if newKey != "" {
		fmt.Fprintf(env.stdout, "tally: new admin key (shown once, keep it): %s\n", newKey)
	}
	fmt.Fprintf(env.stdout, "tally: serving %s (portal %s/portal, console %s/console)\n", base, base, base)
	log.Info("serving", "addr", base)

	if addr := env.getenv("TALLY_PPROF_ADDR"); addr != "" {
		// Profiling on its own listener, never on the API's.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		go http.ListenAndServe(addr, mux)
		log.Info("pprof", "addr", addr)
	}
	// The periodic jobs stop with ctx, before the server drains.
	if noticesEvery > 0 {
		// At start (a server restarted more often than the interval, as
		// deploys do, would never announce anything), then every interval;
		// each notice is written once, whoever runs the job.
		go startThenEvery(ctx, log, "notices", noticesEvery, func(ctx context.Context) error {
			_, err := customers.Notices(ctx, l.Now())
			return err
		})
	}
	if reconcileEvery > 0 {
		go every(ctx, log, "reconcile", reconcileEvery, func(ctx context.Context) error {
			_, err := books.Reconcile(ctx)
			return err
		})
	}
	if logKeep > 0 {
		// At start (a server restarted more often than hourly prunes too),
		// then hourly.
		prune := func(ctx context.Context) error {
			_, err := hooks.Prune(ctx, l.Now().Add(-logKeep))
			return err
		}
		go startThenEvery(ctx, log, "webhook log prune", time.Hour, prune)
	}
	// The webhook dispatcher, until shutdown: the sends in flight finish
	// (within their timeout) after the API stopped.
	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		hooks.Run(dispatchCtx, func(err error) { log.Warn("webhook dispatcher", "err", err) })
	}()
	defer func() { stopDispatch(); <-dispatched }()
	// The chain is sealed off the request path: writers never wait for it.
	if sealEvery > 0 {
		sealCtx, stopSealing := context.WithCancel(ctx)
		sealed := make(chan struct{})
		go func() {
			defer close(sealed)
			l.RunSealer(sealCtx, sealEvery, func(err error) { log.Error("sealing the chain", "err", err) })
		}()
		defer func() { stopSealing(); <-sealed }()
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(api.Listener(hs, ln)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// webhooksFromEnv is the webhook service as the environment configures it:
// TALLY_WEBHOOK_HOSTS (the allow-list, comma-separated host names, "*."
// for subdomains), TALLY_WEBHOOK_ALLOW_LOOPBACK=1 (loopback and private
// addresses, for tests and local development) and TALLY_WEBHOOK_TIMEOUT
// (a request's bound, a Go duration, 10s by default).
func webhooksFromEnv(env environment, l *ledger.Ledger) (*webhook.Service, error) {
	cfg := webhook.Config{}
	for _, h := range strings.Split(env.getenv("TALLY_WEBHOOK_HOSTS"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.Hosts = append(cfg.Hosts, h)
		}
	}
	switch env.getenv("TALLY_WEBHOOK_ALLOW_LOOPBACK") {
	case "", "0":
	case "1":
		cfg.AllowLoopback = true
	default:
		return nil, usageError{msg: "TALLY_WEBHOOK_ALLOW_LOOPBACK must be 1 or 0"}
	}
	if v := env.getenv("TALLY_WEBHOOK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 5*time.Minute {
			return nil, usageError{msg: "TALLY_WEBHOOK_TIMEOUT must be a duration such as 10s, at most 5m"}
		}
		cfg.Timeout = d
	}
	return webhook.New(l, cfg), nil
}

// tuneGC trades memory the service has to spare for CPU it has not: its
// live heap is a few MB, so the default GOGC=100 collects every few MB
// allocated, a tenth of the server's CPU under load. The heap may grow to
// four times the live heap, within a soft limit of 96 MiB (the service's
// budget is 150 MB). GOGC and GOMEMLIMIT, when set, win.
func tuneGC(env environment) {
	if env.getenv("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if env.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(96 << 20)
	}
}

// bootstrapAdminKey makes sure an admin can get in: TALLY_ADMIN_KEY when
// set, else a new key on a first start (returned to be printed once).
func bootstrapAdminKey(ctx context.Context, env environment, l *ledger.Ledger) (string, error) {
	if secret := env.getenv("TALLY_ADMIN_KEY"); secret != "" {
		_, err := l.EnsureKey(ctx, "TALLY_ADMIN_KEY", ledger.RoleAdmin, secret)
		return "", err
	}
	has, err := l.HasKey(ctx, ledger.RoleAdmin)
	if err != nil || has {
		return "", err
	}
	secret, _, err := l.CreateKey(ctx, "first admin", ledger.RoleAdmin, "")
	return secret, err
}

// publicOrigin is TALLY_PUBLIC_URL as the origin a browser writes
// (scheme://host[:port]: lower case, without the scheme's default port
// or a trailing slash), which the API builds portal links on and the
// pages trust forms from; ok is false for anything but an http or https
// scheme and a host, with at most a slash after them. Empty is empty.
func publicOrigin(raw string) (origin string, ok bool) {
	if raw == "" {
		return "", true
	}
	u, err := neturl.Parse(raw)
	if err != nil || strings.ContainsAny(raw, "?#") || u.User != nil || u.Opaque != "" || u.Host == "" ||
		strings.Trim(u.EscapedPath(), "/") != "" {
		return "", false
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if scheme != "https" && scheme != "http" || host == "" {
		return "", false
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	if port != "" && !(scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		host += ":" + port
	}
	return scheme + "://" + host, true
}
