package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// clock is a settable now.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time  { return *c.t.Load() }
func (c *clock) set(t time.Time) { c.t.Store(&t) }

// env is a fresh database with the loyalty programme (for customers and
// the shipments that earn them points) and the catalogue on it.
type env struct {
	t         *testing.T
	ctx       context.Context
	pool      *pgxpool.Pool
	ledger    *ledger.Ledger
	customers *loyalty.Service
	svc       *catalog.Service
	clock     *clock
	keyID     int64
	seq       atomic.Int64
}

// newEnv is a fresh database with the clock at 2026-03-15 12:00 Shanghai.
func newEnv(t *testing.T) *env {
	t.Helper()
	pool := testdb.Pool(t)
	c := &clock{}
	c.set(time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai))
	l := ledger.New(pool, ledger.WithClock(c.now))
	customers := loyalty.New(pool, l)
	e := &env{t: t, ctx: context.Background(), pool: pool, ledger: l, customers: customers,
		svc: catalog.New(pool, l, customers), clock: c}
	_, k, err := l.CreateKey(e.ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	e.keyID = k.ID
	return e
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ptr[T any](v T) *T { return &v }

func march(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, shanghai) }

func (e *env) customer(id string, referredBy ...string) {
	e.t.Helper()
	c := loyalty.Customer{ID: id, Name: "Customer " + id}
	if len(referredBy) > 0 {
		c.ReferredBy = &referredBy[0]
	}
	if _, _, err := e.customers.CreateCustomer(e.ctx, c); err != nil {
		e.t.Fatalf("create customer %s: %v", id, err)
	}
}

// ship completes a shipment: its points are what the customer redeems.
func (e *env) ship(customer, shipment, amount string, at time.Time) loyalty.Result {
	e.t.Helper()
	a := d(amount)
	ev := loyalty.Event{EventID: fmt.Sprintf("ev-%d", e.seq.Add(1)), Type: loyalty.ShipmentCompleted, CustomerID: customer,
		ShipmentID: shipment, OccurredAt: at, Amount: &a}
	o := e.customers.ProcessBatch(e.ctx, e.keyID, "test", []loyalty.Event{ev})[0]
	if o.Err != nil {
		e.t.Fatalf("ship %s: %v", shipment, o.Err)
	}
	return o.Result
}

func (e *env) points(customer string) loyalty.PointsSummary {
	e.t.Helper()
	p, err := e.customers.Profile(e.ctx, customer)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Points
}

func (e *env) product(p catalog.Product) {
	e.t.Helper()
	if _, err := e.svc.CreateProduct(e.ctx, p); err != nil {
		e.t.Fatalf("product %s: %v", p.SKU, err)
	}
}

var redemptionSeq atomic.Int64

func (e *env) redeem(customer, sku string, q int) (catalog.Redemption, error) {
	r, _, err := e.svc.Redeem(e.ctx, catalog.RedemptionInput{ID: fmt.Sprintf("r-%d", redemptionSeq.Add(1)),
		CustomerID: customer, SKU: sku, Quantity: q}, "test")
	return r, err
}

// lots lists (expires_at, remaining) of the customer's lots in id order.
func (e *env) lots(customer string) []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `SELECT l.expires_at, l.remaining FROM points_lots l JOIN accounts a ON a.id = l.account_id
WHERE a.code = $1 ORDER BY l.id`, ledger.CustomerAccount(customer, "points"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var at time.Time
		var rem int64
		if err := rows.Scan(&at, &rem); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d", at.In(shanghai).Format("2006-01-02"), rem))
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func wantLots(t *testing.T, e *env, customer string, want ...string) {
	t.Helper()
	if got := e.lots(customer); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("lots of %s: %v, want %v", customer, got, want)
	}
}

// stock is the product's stock now.
func (e *env) stock(t testing.TB, sku string) int {
	t.Helper()
	products, err := e.svc.Products(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		if p.SKU == sku {
			if p.Stock == nil {
				t.Fatalf("product %s has no stock", sku)
			}
			return *p.Stock
		}
	}
	t.Fatalf("no product %s", sku)
	return 0
}

func wantBalanceOf(t *testing.T, e *env, code, want string) {
	t.Helper()
	a, err := e.ledger.Account(e.ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Balance.Equal(d(want)) {
		t.Errorf("balance of %s = %s, want %s", code, a.Balance, want)
	}
}

func (e *env) tableRows(table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// scan reads one row into dest, failing the test on any error.
func (e *env) scan(t testing.TB, q string, dest ...any) {
	t.Helper()
	if err := e.pool.QueryRow(e.ctx, q).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func wantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// reconcile runs every check the ledger and loyalty keep: the catalogue's
// entries are the ledger's to prove.
func (e *env) reconcile() {
	e.t.Helper()
	r, err := e.ledger.Reconcile(e.ctx, e.customers.ReferenceCheck)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range r.Checks {
		if !c.Pass {
			e.t.Errorf("invariant %s fails: %v", c.Name, c.Offending)
		}
	}
}
