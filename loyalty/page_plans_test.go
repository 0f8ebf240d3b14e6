package loyalty_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// A customer's pages (the profile, the statement, the points about to
// expire, the balances) run every statement on its generic plan: each is
// planned once per connection, not at every request. Left to choose,
// PostgreSQL planned the statement page's query at every execution, which
// cost more than running it. On a connection of their own, each read six
// times (PostgreSQL plans the first five executions for their values
// whatever it chooses after), no statement was planned for its values.
func TestACustomersPagesArePlannedOncePerConnection(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	for i := range 30 {
		e.Ship("C1", fmt.Sprintf("S%d", i), "120", march(1+i%10, 9))
	}
	cfg := e.Pool.Config()
	cfg.MaxConns, cfg.MinConns = 1, 0
	pool, err := pgxpool.NewWithConfig(e.Ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	svc := loyalty.New(pool, ledger.New(pool, ledger.WithClock(e.Clock.Now)))
	for range 6 {
		if _, err := svc.Profile(e.Ctx, "C1"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Balances(e.Ctx, "C1"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Expiring(e.Ctx, "C1", 400*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		_, next, err := svc.Statement(e.Ctx, "C1", 0, 10)
		if err != nil || next == 0 {
			t.Fatalf("first page: next %d, %v", next, err)
		}
		if _, _, err := svc.Statement(e.Ctx, "C1", next, 10); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pool.Acquire(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// Read by the simple protocol: the check prepares no statement itself.
	rows, err := conn.Query(e.Ctx, `SELECT regexp_replace(left(statement, 90), '\s+', ' ', 'g'), generic_plans, custom_plans
FROM pg_prepared_statements WHERE statement ~* '^\s*(SELECT|WITH)'`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	var custom []string
	generic := 0
	var statement string
	var g, c int64
	if _, err := pgx.ForEachRow(rows, []any{&statement, &g, &c}, func() error {
		if c > 0 {
			custom = append(custom, fmt.Sprintf("%d custom plans: %s", c, statement))
		}
		if g >= 6 {
			generic++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(custom) > 0 {
		t.Errorf("statements of the pages planned for their values:\n%s", strings.Join(custom, "\n"))
	}
	// The profile's five reads, the balances', the statement's three, the
	// expiring points' two, at the least.
	if generic < 8 {
		t.Errorf("%d statements ran on their generic plan six times or more, want the pages' (8 at least)", generic)
	}
}
