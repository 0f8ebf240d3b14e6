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
