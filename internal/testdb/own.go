package testdb

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tally-ledger/tally/internal/pgdev"
	"github.com/tally-ledger/tally/migrations"
)

// OwnCluster starts a PostgreSQL cluster of the test's own in
// .data/<name> (one an earlier run left there is stopped and removed
// first), with its database "tally", migrated when migrate is set, and
// stops and removes it when the test ends. For tests that change what the
// shared cluster's other tests rely on: its settings, its standbys.
func OwnCluster(tb testing.TB, name string, opts pgdev.Options, migrate bool) (*pgdev.Cluster, string) {
	tb.Helper()
	root, err := ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	dir := filepath.Join(root, ".data", name)
	c, err := pgdev.Open(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	c.Stop() // a cluster an earlier run left behind
	os.RemoveAll(dir)
	url, _, err := c.Ensure(context.Background(), "tally")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Logf("stop the cluster in %s: %v", dir, err)
		}
		os.RemoveAll(dir)
	})
	if migrate {
		m, err := migrations.New(url)
		if err != nil {
			tb.Fatal(err)
		}
		defer m.Close()
		if err := m.Up(); err != nil {
			tb.Fatal(err)
		}
	}
	return c, url
}

// OwnStandby starts a streaming standby of c (OwnCluster's) beside it, in
// its directory with "-standby", and stops and removes it when the test
// ends; it answers the standby's URL for database "tally".
func OwnStandby(tb testing.TB, c *pgdev.Cluster) string {
	tb.Helper()
	sb, err := c.Standby(context.Background(), c.Dir+"-standby")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sb.Stop()
		os.RemoveAll(sb.Dir)
	})
	url, err := sb.URL("tally")
	if err != nil {
		tb.Fatal(err)
	}
	return url
}
