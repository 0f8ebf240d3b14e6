// Package testdb gives each test its own freshly migrated PostgreSQL
// database, cloned from a template in milliseconds. Tests run against a real
// PostgreSQL, never a mock of it.
//
// When a test that made a database ends, its books are checked (see
// CheckBooks) before the database is dropped.
//
// The server is $TALLY_TEST_DATABASE_URL's (never DATABASE_URL, which may hold
// data worth keeping); when that is unset, the project-local test
// cluster under .data/pgtest, created and started on demand.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/pgarray"
	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/migrations"
)

var (
	once      sync.Once
	serverURL string
	setupErr  error
)

// ServerURL is the URL of the test server's maintenance database.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	url, err := serverOnce()
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	return url
}

// serverOnce finds (or starts) the test server, once per test binary.
func serverOnce() (string, error) {
	once.Do(func() { serverURL, setupErr = server() })
	if setupErr != nil {
		return "", fmt.Errorf("no PostgreSQL for the tests: %w", setupErr)
	}
	return serverURL, nil
}

func server() (string, error) {
	if url := os.Getenv("TALLY_TEST_DATABASE_URL"); url != "" {
		return url, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	c, err := pgdev.Open(filepath.Join(root, ".data", "pgtest"), pgdev.Options{Fast: true})
	if err != nil {
		return "", err
	}
	url, _, err := c.Ensure(context.Background(), "postgres")
	return url, err
}

// ModuleRoot is the directory of go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// New creates an empty, migrated database for the test, checks its books
// when the test ends (see CheckBooks), then drops it, and returns its URL.
func New(tb testing.TB) string {
	tb.Helper()
	url, drop, err := create()
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("testdb: %v", err)
		}
	})
	tb.Cleanup(func() { checkBooks(tb, url) }) // runs before the drop
	return url
}

// PoolCollated is Pool on a database whose default collation is the ICU
// locale given (say "en-US", where "a" sorts before "B"), not the C locale
// the project's clusters use: for what must hold whatever the collation.
// It is migrated from scratch (a template's collation cannot be changed),
// so it costs the migrations' time.
func PoolCollated(tb testing.TB, icuLocale string) *pgxpool.Pool {
	tb.Helper()
	url, drop, err := createFrom("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '"+strings.ReplaceAll(icuLocale, "'", "")+"'", true)
	if err != nil {
		tb.Fatalf("testdb: %v", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("testdb: %v", err)
		}
	})
	tb.Cleanup(func() { checkBooks(tb, url) })
	return connect(tb, url, func(*pgxpool.Config) {})
}

// create makes a database from the template of the current migrations and
// returns its URL and the function that drops it.
func create() (string, func() error, error) {
	return createFrom("", false)
}

// createFrom makes a database: with the template of the current migrations
// when how is empty, else as how says (a CREATE DATABASE's options), then
// migrated when migrate is set.
func createFrom(how string, migrate bool) (string, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	server, err := serverOnce()
	if err != nil {
		return "", nil, err
	}
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)

	if how == "" {
		template := "tally_tpl_" + migrations.Fingerprint()
		if err := ensureTemplate(ctx, conn, server, template); err != nil {
			return "", nil, fmt.Errorf("template: %w", err)
		}
		how = "TEMPLATE " + template + " STRATEGY FILE_COPY"
	}
	var raw [6]byte
	rand.Read(raw[:])
	name := "tally_test_" + hex.EncodeToString(raw[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" "+how); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
		return nil
	}
	if migrate {
		if err := migrations.Up(ctx, withDatabase(server, name)); err != nil {
			return "", nil, errors.Join(fmt.Errorf("migrate %s: %w", name, err), drop())
		}
	}
	return withDatabase(server, name), drop, nil
}

// Pool is New, connected.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return pool(tb, func(*pgxpool.Config) {})
}

// pool is Pool, its configuration changed by set.
func pool(tb testing.TB, set func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	return connect(tb, New(tb), set)
}

// connect opens a pool on url as the service's are, its configuration
// changed by set, closed when the test ends.
func connect(tb testing.TB, url string, set func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	set(cfg)
	cfg.MaxConns = 40
	// As the service's pools do (cmd/tally): the tests write through the
	// same array encoding.
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgarray.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// ensureTemplate builds the template database once per migration set; an
// advisory lock keeps parallel test binaries from building it twice.
func ensureTemplate(ctx context.Context, conn *pgx.Conn, server, name string) error {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(7413)"); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(7413)")
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	building := name + "_building"
	conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return err
	}
	if err := migrations.Up(ctx, withDatabase(server, building)); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name)
	return err
}

// withDatabase replaces the database name in a postgres:// URL.
func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

// Books checks the books of a test's database at the end of the test: it
// reports what is wrong with tb.Errorf.
type Books func(tb testing.TB, url string)

var (
	booksMu sync.Mutex
	books   Books
	skipped = map[testing.TB]string{}
)

// CheckBooks sets the check that every test of the package runs on its
// database when it ends, unless the test has failed already or called
// SkipBooks. Each test package that writes sets it from an init function
// (testdb cannot import the report code: the hook keeps the imports
// pointing inward). A test that wrote entries in a package that set no
// check fails.
func CheckBooks(check Books) {
	booksMu.Lock()
	defer booksMu.Unlock()
	books = check
}

// SkipBooks spares tb's database the books check at its end, for a test
// that breaks the books on purpose (to see reconciliation find it). tb is
// the test that made the database; why is logged.
func SkipBooks(tb testing.TB, why string) {
	booksMu.Lock()
	defer booksMu.Unlock()
	skipped[tb] = why
}

// checkBooks runs the package's check on the test's database. Benchmarks
// are not checked: their books are their measure's, and a check of a
// million lots would outlast the benchmark.
func checkBooks(tb testing.TB, url string) {
	tb.Helper()
	booksMu.Lock()
	check := books
	why, skip := skipped[tb]
	delete(skipped, tb)
	booksMu.Unlock()
	if _, bench := tb.(*testing.B); bench || tb.Failed() || tb.Skipped() {
		return
	}
	if skip {
		tb.Logf("testdb: books not checked: %s", why)
		return
	}
	if check != nil {
		check(tb, url)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Errorf("testdb: books: %v", err)
		return
	}
	defer conn.Close(ctx)
	var entries int64
	err = conn.QueryRow(ctx, `SELECT count(*) FROM entries`).Scan(&entries)
	switch {
	case fault.UndefinedTable(err): // no ledger tables: nothing written
	case err != nil:
		tb.Errorf("testdb: books: %v", err)
	case entries > 0:
		tb.Errorf("testdb: the test wrote %d entries, but its package sets no books check (testdb.CheckBooks)", entries)
	}
}

// Empty creates a database with no schema (CREATE DATABASE with options,
// which may be empty), dropped when the test ends, and returns its URL.
func Empty(tb testing.TB, options string) string {
	tb.Helper()
	ctx := context.Background()
	server := ServerURL(tb)
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var raw [6]byte
	rand.Read(raw[:])
	name := "tally_empty_" + hex.EncodeToString(raw[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" "+options); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			tb.Error(err)
		}
	})
	return withDatabase(server, name)
}
