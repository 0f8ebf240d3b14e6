package migrations_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/migrations"
)

// Every migration can be rolled back and applied again.
func TestDownAndUpAgain(t *testing.T) {
	url := testdb.New(t)
	m, err := migrations.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Down(); err != nil {
		t.Fatalf("down: %v", err)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if v, dirty, err := m.Version(); err != nil || dirty || v != latest {
		t.Fatalf("version %d dirty %v err %v, want %d clean", v, dirty, err, latest)
	}
}
