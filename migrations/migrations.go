// Package migrations holds the database schema as numbered golang-migrate
// files, embedded in the binary, and applies them. It never holds data
// fixes that are not reversible by a matching .down.sql.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// New returns a migrator for the PostgreSQL database at databaseURL
// (postgres:// or postgresql://). Close it when done.
func New(databaseURL string) (*migrate.Migrate, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return nil, err
	}
	url := databaseURL
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if rest, ok := strings.CutPrefix(url, scheme); ok {
			url = "pgx5://" + rest
		}
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, url)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return m, nil
}

// Up applies every pending migration, once this process holds the
// migrators' turn (see Exclusive).
func Up(ctx context.Context, databaseURL string) error {
	return Exclusive(ctx, databaseURL, func() error {
		m, err := New(databaseURL)
		if err != nil {
			return err
		}
		defer m.Close()
		if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("migrations: %w", err)
		}
		return nil
	})
}

// turnKey names the advisory lock that gives migrators their turn, one at a
// time, in a database (advisory locks are the database's own). It is not
// golang-migrate's lock, which New already waits for.
const turnKey int64 = 0x74616c6c795f6d67 // "tally_mg"

// Exclusive runs fn, which migrates the database at databaseURL, while no
// other migrator that asks for its turn here does. It waits for its turn
// without holding a statement open: it asks with pg_try_advisory_lock and
// sleeps between asks, its session idle. golang-migrate's own lock waits
// inside a statement, pg_advisory_lock, and a migration that builds or
// drops an index CONCURRENTLY (0033, 0038, 0040) waits for every
// statement in flight, that one among them, while it holds the lock that
// statement waits for: PostgreSQL ended the cycle as a deadlock, failing a
// server that started beside another. The turn ends with fn, or with the
// session if the process dies. Waiting ends with ctx.
func Exclusive(ctx context.Context, databaseURL string, fn func() error) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Closing the session ends its turn, whatever fn did.
	defer conn.Close(context.Background())
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		var mine bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", turnKey).Scan(&mine); err != nil {
			return fmt.Errorf("migrations: waiting for another migrator: %w", err)
		}
		if mine {
			return fn()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrations: waiting for another migrator: %w", ctx.Err())
		case <-time.After(wait):
		}
	}
}

// Latest is the version of the newest embedded migration.
func Latest() (uint, error) {
	vs, err := Versions()
	if err != nil {
		return 0, err
	}
	return vs[len(vs)-1], nil
}

// Versions are the versions of the embedded migrations, oldest first.
func Versions() ([]uint, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return nil, err
	}
	defer src.Close()
	v, err := src.First()
	if err != nil {
		return nil, err
	}
	vs := []uint{v}
	for {
		next, err := src.Next(v)
		if err != nil {
			return vs, nil
		}
		vs = append(vs, next)
		v = next
	}
}

// Fingerprint is a short digest of every embedded migration, so that a test
// template database built from them can be reused until they change.
func Fingerprint() string {
	h := sha256.New()
	entries, _ := files.ReadDir(".")
	for _, e := range entries {
		data, _ := files.ReadFile(e.Name())
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
