package loyalty_test

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

func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

type env struct {
	t      *testing.T
	ctx    context.Context
	pool   *pgxpool.Pool
	ledger *ledger.Ledger
	svc    *loyalty.Service
	// catalog spends points the way customers do, for the tests whose
	// events meet points already spent.
	catalog *catalog.Service
	clock   *clock
	keyID   int64
	seq     atomic.Int64
	// eventByEvent sends the events through the path a group falls back
	// to (loyalty.Service.ProcessEventByEvent) rather than ProcessBatch.
	eventByEvent bool
}

// newEnv is a fresh database with the clock at 2026-03-15 12:00 Shanghai.
func newEnv(t *testing.T) *env {
	t.Helper()
	pool := testdb.Pool(t)
	c := &clock{}
	c.set(time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai))
	l := ledger.New(pool, ledger.WithClock(c.now))
	svc := loyalty.New(pool, l)
	e := &env{t: t, ctx: context.Background(), pool: pool, ledger: l, svc: svc, catalog: catalog.New(pool, l, svc), clock: c}
	_, k, err := l.CreateKey(e.ctx, "partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	e.keyID = k.ID
	return e
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func (e *env) customer(id string, referredBy ...string) {
	e.t.Helper()
	c := loyalty.Customer{ID: id, Name: "Customer " + id}
	if len(referredBy) > 0 {
		c.ReferredBy = &referredBy[0]
	}
	if _, _, err := e.svc.CreateCustomer(e.ctx, c); err != nil {
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

func (e *env) process(ev loyalty.Event) (loyalty.Result, error) {
	o := e.processAs(e.keyID, ev)
	return o.Result, o.Err
}

// processAs processes one event as the partner key keyID.
func (e *env) processAs(keyID int64, ev loyalty.Event) loyalty.Outcome {
	return e.processBatch(keyID, []loyalty.Event{ev})[0]
}

// processBatch processes the events as the partner key keyID, through
// ProcessBatch or, when the env says so, event by event.
func (e *env) processBatch(keyID int64, events []loyalty.Event) []loyalty.Outcome {
	if e.eventByEvent {
		return e.svc.ProcessEventByEvent(e.ctx, keyID, "test", events)
	}
	return e.svc.ProcessBatch(e.ctx, keyID, "test", events)
}

func (e *env) mustProcess(ev loyalty.Event) loyalty.Result {
	e.t.Helper()
	res, err := e.process(ev)
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
	p, err := e.svc.Profile(e.ctx, customer)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Points
}

// reconcile runs the ledger's invariants with loyalty's check of its rows.
func (e *env) reconcile() {
	e.t.Helper()
	r, err := e.ledger.Reconcile(e.ctx, e.svc.ReferenceCheck)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range r.Checks {
		if !c.Pass {
			e.t.Errorf("invariant %s fails: %v", c.Name, c.Offending)
		}
	}
}

// scan reads one row into dest, failing the test on any error.
func (e *env) scan(t testing.TB, q string, dest ...any) {
	t.Helper()
	if err := e.pool.QueryRow(e.ctx, q).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) profile(t testing.TB, customer string) loyalty.Profile {
	t.Helper()
	p, err := e.svc.Profile(e.ctx, customer)
	if err != nil {
		t.Fatalf("profile of %s: %v", customer, err)
	}
	return p
}

func wantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func march(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, shanghai) }

func ptr[T any](v T) *T { return &v }

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

// queryLines runs a query of one text column.
func (e *env) queryLines(q string, args ...any) []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, q, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) tableRows(table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// statementLines are the customer's statement, newest first.
func (e *env) statementLines(customer string) []string {
	e.t.Helper()
	entries, _, err := e.svc.Statement(e.ctx, customer, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]string, len(entries))
	for i, s := range entries {
		out[i] = s.Description
	}
	return out
}
