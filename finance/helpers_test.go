package finance_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// clock is a settable now.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// env is a fresh database with every service that writes what finance
// reads: the loyalty programme, the catalogue and prepaid money.
type env struct {
	t         *testing.T
	ctx       context.Context
	pool      *pgxpool.Pool
	ledger    *ledger.Ledger
	customers *loyalty.Service
	catalog   *catalog.Service
	prepaid   *prepaid.Service
	svc       *finance.Service
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
	money := prepaid.New(l, customers)
	e := &env{t: t, ctx: context.Background(), pool: pool, ledger: l, customers: customers,
		catalog: catalog.New(pool, l, customers), prepaid: money, svc: finance.New(l, customers, money), clock: c}
	_, k, err := l.CreateKey(e.ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	e.keyID = k.ID
	return e
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

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

func (e *env) event(typ, customer, shipment, amount string, at time.Time) loyalty.Event {
	ev := loyalty.Event{EventID: fmt.Sprintf("ev-%d", e.seq.Add(1)), Type: typ, CustomerID: customer,
		ShipmentID: shipment, OccurredAt: at}
	if amount != "" {
		a := d(amount)
		ev.Amount = &a
	}
	return ev
}

func (e *env) mustProcess(ev loyalty.Event) loyalty.Result {
	e.t.Helper()
	o := e.customers.ProcessBatch(e.ctx, e.keyID, "test", []loyalty.Event{ev})[0]
	res, err := o.Result, o.Err
	if err != nil {
		e.t.Fatalf("%s %s: %v", ev.Type, ev.ShipmentID, err)
	}
	return res
}

func (e *env) ship(customer, shipment, amount string, at time.Time) loyalty.Result {
	e.t.Helper()
	return e.mustProcess(e.event(loyalty.ShipmentCompleted, customer, shipment, amount, at))
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
	if _, err := e.catalog.CreateProduct(e.ctx, p); err != nil {
		e.t.Fatalf("product %s: %v", p.SKU, err)
	}
}

var redemptionSeq atomic.Int64

func (e *env) redeem(customer, sku string, q int) (catalog.Redemption, error) {
	r, _, err := e.catalog.Redeem(e.ctx, catalog.RedemptionInput{ID: fmt.Sprintf("r-%d", redemptionSeq.Add(1)),
		CustomerID: customer, SKU: sku, Quantity: q}, "test")
	return r, err
}

// scan reads one row into dest, failing the test on any error.
func (e *env) scan(t testing.TB, q string, dest ...any) {
	t.Helper()
	if err := e.pool.QueryRow(e.ctx, q).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

var moneySeq atomic.Int64

func (e *env) money(kind, customer, amount string) (prepaid.MoneyMovement, error) {
	in := prepaid.MoneyInput{ID: fmt.Sprintf("%s-%d", kind, moneySeq.Add(1)), CustomerID: customer, Amount: d(amount),
		OccurredAt: e.clock.now().Add(-time.Minute), ShipmentID: "S1"}
	var m prepaid.MoneyMovement
	var err error
	switch kind {
	case prepaid.Deposit:
		m, _, err = e.prepaid.Deposit(e.ctx, in, "test")
	case prepaid.Charge:
		m, _, err = e.prepaid.Charge(e.ctx, in, "test")
	case prepaid.Withdrawal:
		m, _, err = e.prepaid.Withdraw(e.ctx, in, "test")
	}
	return m, err
}

func (e *env) balances(t testing.TB, customer string) loyalty.Balances {
	t.Helper()
	b, err := e.customers.Balances(e.ctx, customer)
	if err != nil {
		t.Fatalf("balances of %s: %v", customer, err)
	}
	return b
}

func wantMoney(t *testing.T, what string, got *decimal.Decimal, want string) {
	t.Helper()
	if got == nil || !got.Equal(d(want)) {
		t.Errorf("%s = %v, want %s", what, got, want)
	}
}

func shanghaiAt(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, shanghai)
}

// heldBefore sums the accounts' balances over the entries effective before
// t, as the ledger reads one account's balance as of an instant.
func (e *env) heldBefore(t testing.TB, at time.Time, codes ...string) decimal.Decimal {
	t.Helper()
	sum := decimal.Zero
	for _, code := range codes {
		b, err := e.ledger.BalanceAsOf(e.ctx, code, at.Add(-time.Microsecond))
		if err != nil {
			t.Fatalf("%s as of %s: %v", code, at, err)
		}
		sum = sum.Add(b)
	}
	return sum
}

// moneyAt records a movement that occurred at a given time.
func (e *env) moneyAt(t *testing.T, kind, id, customer, amount string, at time.Time) prepaid.MoneyMovement {
	t.Helper()
	in := prepaid.MoneyInput{ID: id, CustomerID: customer, Amount: d(amount), OccurredAt: at}
	var m prepaid.MoneyMovement
	var err error
	switch kind {
	case prepaid.Deposit:
		m, _, err = e.prepaid.Deposit(e.ctx, in, "test")
	case prepaid.Charge:
		m, _, err = e.prepaid.Charge(e.ctx, in, "test")
	case prepaid.Withdrawal:
		m, _, err = e.prepaid.Withdraw(e.ctx, in, "test")
	}
	if err != nil {
		t.Fatalf("%s %s: %v", kind, id, err)
	}
	return m
}

// reconcile runs every check, as finance reconciles.
func (e *env) reconcile() {
	e.t.Helper()
	r, err := e.svc.Reconcile(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range r.Checks {
		if !c.Pass {
			e.t.Errorf("invariant %s fails: %v", c.Name, c.Offending)
		}
	}
}
