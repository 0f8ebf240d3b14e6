package main

import (
	"context"
	"net/url"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestPoolTurnsJITOff: the service's sessions run without PostgreSQL's JIT
// (the cluster's default is on), and a URL that sets jit keeps its choice.
func TestPoolTurnsJITOff(t *testing.T) {
	base := testdb.New(t)
	withJIT, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := withJIT.Query()
	q.Set("jit", "on")
	withJIT.RawQuery = q.Encode()
	for _, c := range []struct{ url, want string }{{base, "off"}, {withJIT.String(), "on"}} {
		pool, err := (environment{getenv: getenv(nil)}).pool(context.Background(), c.url)
		if err != nil {
			t.Fatal(err)
		}
		var jit string
		err = pool.QueryRow(context.Background(), `SHOW jit`).Scan(&jit)
		pool.Close()
		if err != nil || jit != c.want {
			t.Errorf("%s: SHOW jit = %q, %v; want %q", c.url, jit, err, c.want)
		}
	}
}

// TestPoolKeepsJITSetThroughOptions: a URL that sets jit through libpq's
// options ("-c jit=on"), as PGOPTIONS does, sets it too: the pool does not
// override it with a jit=off of its own.
func TestPoolKeepsJITSetThroughOptions(t *testing.T) {
	base := testdb.New(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += "options=-c%20jit%3Don" // %20, not +: pgx reads the query as libpq does
	pool, err := (environment{getenv: getenv(nil)}).pool(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var jit string
	if err := pool.QueryRow(context.Background(), `SHOW jit`).Scan(&jit); err != nil || jit != "on" {
		t.Errorf("%s: SHOW jit = %q, %v; want on", u, jit, err)
	}
}

// TestPoolKeepsJITSetForTheDatabase: a database whose owner chose jit
// (ALTER DATABASE ... SET jit) keeps that choice in the service's sessions;
// the pool sends no startup parameter of its own for it, so a pooler that
// refuses unknown ones (PgBouncer) lets it connect.
func TestPoolKeepsJITSetForTheDatabase(t *testing.T) {
	u := testdb.New(t)
	ctx := context.Background()
	admin, err := (environment{getenv: getenv(nil)}).pool(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = on', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	pool, err := (environment{getenv: getenv(nil)}).pool(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var jit string
	if err := pool.QueryRow(ctx, `SHOW jit`).Scan(&jit); err != nil || jit != "on" {
		t.Errorf("SHOW jit = %q, %v; want on (the database's)", jit, err)
	}
	if _, set := pool.Config().ConnConfig.RuntimeParams["jit"]; set {
		t.Error("the pool sends jit as a startup parameter")
	}
}
