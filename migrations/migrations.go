// Package migrations holds the database schema as numbered golang-migrate
// files, embedded in the binary, and applies them. It never holds data
// fixes that are not reversible by a matching .down.sql.
package migrations

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
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

// Up applies every pending migration.
func Up(databaseURL string) error {
	m, err := New(databaseURL)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
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
