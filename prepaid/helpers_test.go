package prepaid_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// clock is a settable now.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) now() time.Time  { return *c.t.Load() }
func (c *clock) set(t time.Time) { c.t.Store(&t) }

// env is a fresh database with the loyalty programme (for customers and
// rule versions) and prepaid money on it.
type env struct {
	t         *testing.T
	ctx       context.Context
	pool      *pgxpool.Pool
	ledger    *ledger.Ledger
	customers *loyalty.Service
	svc       *prepaid.Service
	clock     *clock
}

// newEnv is a fresh database with the clock at 2026-03-15 12:00 Shanghai.
func newEnv(t *testing.T) *env {
	t.Helper()
	pool := testdb.Pool(t)
	c := &clock{}
	c.set(time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai))
	l := ledger.New(pool, ledger.WithClock(c.now))
	customers := loyalty.New(pool, l)
	return &env{t: t, ctx: context.Background(), pool: pool, ledger: l, customers: customers,
		svc: prepaid.New(l, customers), clock: c}
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

var moneySeq atomic.Int64

func (e *env) money(kind, customer, amount string) (prepaid.MoneyMovement, error) {
	in := prepaid.MoneyInput{ID: fmt.Sprintf("%s-%d", kind, moneySeq.Add(1)), CustomerID: customer, Amount: d(amount),
		OccurredAt: e.clock.now().Add(-time.Minute), ShipmentID: "S1"}
	var m prepaid.MoneyMovement
	var err error
	switch kind {
	case prepaid.Deposit:
		m, _, err = e.svc.Deposit(e.ctx, in, "test")
	case prepaid.Charge:
		m, _, err = e.svc.Charge(e.ctx, in, "test")
	case prepaid.Withdrawal:
		m, _, err = e.svc.Withdraw(e.ctx, in, "test")
	}
	return m, err
}

func (e *env) mustMoney(kind, customer, amount string) prepaid.MoneyMovement {
	e.t.Helper()
	m, err := e.money(kind, customer, amount)
	if err != nil {
		e.t.Fatalf("%s %s %s: %v", kind, customer, amount, err)
	}
	return m
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

// rebateCheck is the outcome of the rebate check in a ledger
// reconciliation.
func (e *env) rebateCheck() (ledger.Check, error) {
	r, err := e.ledger.Reconcile(e.ctx, e.svc.RebateCheck)
	if err != nil {
		return ledger.Check{}, err
	}
	for _, c := range r.Checks {
		if c.Name == "rebates_match_rules" {
			return c, nil
		}
	}
	return ledger.Check{}, fmt.Errorf("no rebates_match_rules among the checks")
}

// reconcile runs the ledger's invariants with the rebate check.
func (e *env) reconcile() {
	e.t.Helper()
	r, err := e.ledger.Reconcile(e.ctx, e.svc.RebateCheck)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range r.Checks {
		if !c.Pass {
			e.t.Errorf("invariant %s fails: %v", c.Name, c.Offending)
		}
	}
}

// breaksBooks spares the test's database the books check: the test breaks
// its books on purpose, to see reconciliation find it.
func (e *env) breaksBooks(why string) { testdb.SkipBooks(e.t, why) }
