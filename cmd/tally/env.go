package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/pgarray"
	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/migrations"
)

// environment is what a command gets from the outside world.
type environment struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

func (e environment) get(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func (e environment) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.get("TALLY_LOG_LEVEL", "info"))); err != nil {
		return nil, fmt.Errorf("TALLY_LOG_LEVEL: %w", err)
	}
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level})), nil
}

// database returns DATABASE_URL or, when it is unset, the URL of the
// project-local cluster, created and started on demand. stop stops the
// cluster again if this call started it; it is a no-op otherwise.
func (e environment) database(ctx context.Context) (url string, stop func(), err error) {
	if url := e.getenv("DATABASE_URL"); url != "" {
		return url, func() {}, nil
	}
	dir := filepath.Join(e.get("TALLY_DATA_DIR", ".data"), "pg")
	c, err := pgdev.Open(dir, pgdev.Options{Log: func(f string, a ...any) { fmt.Fprintf(e.stderr, "tally: "+f+"\n", a...) }})
	if err != nil {
		return "", nil, err
	}
	url, started, err := c.Ensure(ctx, "tally")
	if err != nil {
		return "", nil, err
	}
	stop = func() {}
	if started {
		stop = func() {
			if err := c.Stop(); err != nil {
				fmt.Fprintf(e.stderr, "tally: stop PostgreSQL: %v\n", err)
			}
		}
	}
	return url, stop, nil
}

// open is what every command that works on the books starts with: the
// database (DATABASE_URL or the local cluster), migrated, and a pool on it.
// close releases both.
func (e environment) open(ctx context.Context) (pool *pgxpool.Pool, url string, close func(), err error) {
	url, stopDB, err := e.database(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	if err := migrations.Up(ctx, url); err != nil {
		stopDB()
		return nil, "", nil, err
	}
	if pool, err = e.pool(ctx, url); err != nil {
		stopDB()
		return nil, "", nil, err
	}
	return pool, url, func() { pool.Close(); stopDB() }, nil
}

// sessions sets up each of the pool's connections: its array parameters
// written by internal/pgarray, and PostgreSQL's JIT compilation off,
// unless something chose it for them: the URL (a parameter, or libpq's
// options), the role or the database (ALTER ROLE/DATABASE ... SET jit).
// JIT compiles the plans estimated dearer than jit_above_cost, anew at
// every execution of a prepared statement: the sealer's read of 4,000
// entries (a subquery each) paid 12 to 18 ms of compiling for 34 ms of
// work. A report over many rows may run a little slower without it.
//
// It is a SET after connecting, not a startup parameter: a connection
// pooler such as PgBouncer refuses startup parameters it does not know.
func sessions(cfg *pgxpool.Config) {
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		pgarray.Register(conn.TypeMap())
		if after != nil {
			if err := after(ctx, conn); err != nil {
				return err
			}
		}
		_, err := conn.Exec(ctx, qNoJIT)
		return err
	}
}

// qNoJIT sets jit off where it has its default or the cluster's
// configuration file's value, and leaves any other choice alone.
const qNoJIT = `SELECT set_config('jit', 'off', false) FROM pg_settings
WHERE name = 'jit' AND source IN ('default', 'configuration file')`

// poolFloor is the least size (pgx's MaxConns) of any pool of the service,
// whatever its URL says: pgx's default is the number of cores (4 at
// least), and a server of 2 cores then let 4 requests use a database at a
// time: the others waited for a connection. A standby's pool serves the
// balance reads, which clients send many at a time.
const poolFloor = 16

// sizePool raises the pool's size to poolFloor at least.
func sizePool(cfg *pgxpool.Config) {
	cfg.MaxConns = max(cfg.MaxConns, poolFloor)
}

// pool connects to the database.
func (e environment) pool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	sizePool(cfg)
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Per host: with several (a failover's), a dead machine that does
		// not refuse the connection is passed over after this.
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "tally"
	sessions(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s: %w", redact(url), err)
	}
	return pool, nil
}

// redact hides a password in a URL for printing.
func redact(url string) string {
	at := strings.LastIndex(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 {
		return url
	}
	cred := url[scheme+3 : at]
	if i := strings.IndexByte(cred, ':'); i >= 0 {
		return url[:scheme+3] + cred[:i] + ":***" + url[at:]
	}
	return url
}
