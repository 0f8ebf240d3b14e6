package prepaid_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// TestGroupsNeverScanABigTableOnTheirGenericPlans: a group runs on generic
// plans (loyalty.WriteGroup), whatever it runs: a group of money movements
// written together, one written movement by movement (a retry in it), and
// redemptions (with their customers' tiers, owed points and lot draws).
// Every statement they run, functions' statements included, as
// auto_explain logs the plan it ran with, on a database of 3,000 customers
// with their lots, movements and redemptions, ran on its generic plan (a
// condition names a parameter, as "code = $1" or "expires_at > $2", never
// its value: an account's code or an instant) and reads no table of more
// than 1,000 rows from end to end. The server must allow
// LOAD 'auto_explain' (a superuser, as the test cluster's).
func TestGroupsNeverScanABigTableOnTheirGenericPlans(t *testing.T) {
	url := testdb.New(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := servicetest.NewWith(t, servicetest.Config{Pool: pool})
	const customers = 3000
	if _, err := pool.Exec(ctx, `INSERT INTO customers (id, name) SELECT 'K' || i, 'Customer ' || i FROM generate_series(1, $1::int) AS i`,
		customers); err != nil {
		t.Fatal(err)
	}
	at := e.Clock.Now().Add(-time.Hour)
	for g := 1; g <= customers; g += 500 {
		var events []loyalty.Event
		var kinds []string
		var ins []prepaid.MoneyInput
		for i := g; i < g+500; i++ {
			events = append(events, e.Event(loyalty.ShipmentCompleted, fmt.Sprint("K", i), fmt.Sprint("S", i), "300", at))
			kinds = append(kinds, prepaid.Deposit)
			ins = append(ins, prepaid.MoneyInput{ID: fmt.Sprint("seed", i), CustomerID: fmt.Sprint("K", i), Amount: d("100")})
		}
		for _, o := range e.ProcessBatch(e.Key, events) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		_, _, errs := e.Prepaid.MoveGroup(ctx, kinds, ins, "test", false)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	e.Product(catalog.Product{SKU: "P1", Name: "Mug", Kind: "standard", PointsPrice: 10, Active: true})
	for i := 1; i <= 1200; i++ {
		if _, err := e.Redeem(fmt.Sprint("K", i), "P1", 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples > 1000 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	bigTables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"accounts", "balance_buckets", "money_movements", "points_lots", "postings", "redemptions"} {
		if !strings.Contains(strings.Join(bigTables, " "), want) {
			t.Fatalf("%s is not among the big tables %v: the database is too small to tell", want, bigTables)
		}
	}

	// The same database through servers whose sessions log every plan they
	// run as a notice.
	var (
		mu    sync.Mutex
		plans []string
	)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice`)
		return err
	}
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		plans = append(plans, n.Message)
	}
	logged, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(logged.Close)
	l := servicetest.NewWith(t, servicetest.Config{Pool: logged, Clock: e.Clock})
	scan := regexp.MustCompile(`Seq Scan on (\w+)`)
	check := func(what string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		generic := false
		for _, p := range plans {
			// A row is found by a parameter on the generic plan ($1), by
			// the argument itself (an account's code, an instant) on a
			// plan made for it.
			generic = generic || onParameter.MatchString(p)
			if strings.Contains(p, "(code = 'customer:") || onInstant.MatchString(p) || onArray.MatchString(p) {
				t.Errorf("%s: a statement ran on a plan made for its arguments:\n%s", what, p)
			}
			for _, m := range scan.FindAllStringSubmatch(p, -1) {
				for _, big := range bigTables {
					if m[1] == big {
						t.Errorf("%s: a statement scans %s:\n%s", what, big, p)
					}
				}
			}
		}
		if !generic {
			t.Errorf("%s: no row found by a parameter (a generic plan), of %d plans", what, len(plans))
		}
		plans = nil
	}

	var kinds []string
	var ins []prepaid.MoneyInput
	for i := range 20 {
		for _, k := range []string{prepaid.Deposit, prepaid.Charge, prepaid.Withdrawal} {
			kinds = append(kinds, k)
			ins = append(ins, prepaid.MoneyInput{ID: fmt.Sprint("x", i), CustomerID: fmt.Sprint("K", 100+i), Amount: d("7")})
		}
	}
	_, _, errs := l.Prepaid.MoveGroup(ctx, kinds, ins, "test", false)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s %s: %v", kinds[i], ins[i].ID, err)
		}
	}
	check("movements written together")
	// A retry of a recorded movement beside a new one: still together.
	kinds, ins = append(kinds[:1], prepaid.Deposit), append(ins[:1], prepaid.MoneyInput{ID: "y", CustomerID: "K7", Amount: d("5")})
	group := func(what string, fallbacks int64) {
		_, replayed, errs := l.Prepaid.MoveGroup(ctx, kinds, ins, "test", false)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s %s: %v", kinds[i], ins[i].ID, err)
			}
		}
		if !replayed[len(replayed)-1] && !replayed[0] {
			t.Errorf("%s: no movement replayed", what)
		}
		if n := l.Prepaid.Stats().Fallbacks.Load(); n != fallbacks {
			t.Errorf("%s: %d groups fell back, want %d", what, n, fallbacks)
		}
		check(what)
	}
	group("a retry written together", 0)
	// A new movement and its retry in one group: one by one.
	kinds = []string{prepaid.Deposit, prepaid.Deposit}
	ins = []prepaid.MoneyInput{{ID: "z", CustomerID: "K8", Amount: d("5")}, {ID: "z", CustomerID: "K8", Amount: d("5")}}
	group("movements written one by one", 1)
	for i := 2000; i < 2010; i++ {
		if _, err := l.Redeem(fmt.Sprint("K", i), "P1", 2); err != nil {
			t.Fatal(err)
		}
	}
	check("redemptions")
}

// How TestGroupsNeverScanABigTableOnTheirGenericPlans tells a plan's kind:
// a condition on a parameter is a generic plan's, one on an instant (the
// argument itself, in the session's offset, whatever its TimeZone) a
// custom plan's.
var (
	onParameter = regexp.MustCompile(`(=|<|>) \$\d+\)`)
	// A group's statements take their rows as array parameters: a plan
	// made for its arguments shows the array itself ('{C1,C2}'::text[]).
	onArray   = regexp.MustCompile(`'\{[^']*\}'::[a-z ]+\[\]`)
	onInstant = regexp.MustCompile(`(=|<|>) '\d{4}-\d\d-\d\d [0-9:.]+[+-]\d\d(:\d\d){0,2}'::timestamp with time zone`)
)
