package servicetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Reconcile runs every invariant finance reconciles (the ledger's, the
// rebates against the rules, the event rows against what they name) and
// fails the test on each one that does not hold.
func (e *Env) Reconcile() {
	e.T.Helper()
	r, err := e.Finance.Reconcile(e.Ctx)
	if err != nil {
		e.T.Fatal(err)
	}
	for _, c := range r.Checks {
		if !c.Pass {
			e.T.Errorf("invariant %s fails: %v", c.Name, c.Offending)
		}
	}
}

// Profile is the customer's profile.
func (e *Env) Profile(t testing.TB, customer string) loyalty.Profile {
	t.Helper()
	p, err := e.Loyalty.Profile(e.Ctx, customer)
	if err != nil {
		t.Fatalf("profile of %s: %v", customer, err)
	}
	return p
}

// Points is the customer's points as their profile shows them.
func (e *Env) Points(customer string) loyalty.PointsSummary {
	e.T.Helper()
	return e.Profile(e.T, customer).Points
}

// Balances is the customer's balances.
func (e *Env) Balances(t testing.TB, customer string) loyalty.Balances {
	t.Helper()
	b, err := e.Loyalty.Balances(e.Ctx, customer)
	if err != nil {
		t.Fatalf("balances of %s: %v", customer, err)
	}
	return b
}

// Entry is the ledger's entry id.
func (e *Env) Entry(id int64) *ledger.Entry {
	e.T.Helper()
	en, err := e.Ledger.Entry(e.Ctx, id)
	if err != nil {
		e.T.Fatal(err)
	}
	return en
}

// Lots lists (expires_at, remaining) of the customer's lots in id order,
// as "2006-01-02:remaining" with the date in Shanghai.
func (e *Env) Lots(customer string) []string {
	e.T.Helper()
	rows, err := e.Pool.Query(e.Ctx, `SELECT l.expires_at, l.remaining FROM points_lots l JOIN accounts a ON a.id = l.account_id
WHERE a.code = $1 ORDER BY l.id`, ledger.CustomerAccount(customer, "points"))
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var at time.Time
		var rem int64
		if err := rows.Scan(&at, &rem); err != nil {
			e.T.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d", at.In(Shanghai).Format("2006-01-02"), rem))
	}
	if err := rows.Err(); err != nil {
		e.T.Fatal(err)
	}
	return out
}

// WantLots checks the customer's lots (see Lots).
func (e *Env) WantLots(t *testing.T, customer string, want ...string) {
	t.Helper()
	if got := e.Lots(customer); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("lots of %s: %v, want %v", customer, got, want)
	}
}

// WantBalanceOf checks the stored balance of the account code.
func (e *Env) WantBalanceOf(t *testing.T, code, want string) {
	t.Helper()
	a, err := e.Ledger.Account(e.Ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Balance.Equal(D(want)) {
		t.Errorf("balance of %s = %s, want %s", code, a.Balance, want)
	}
}

// TableRows is how many rows the table holds.
func (e *Env) TableRows(table string) int {
	e.T.Helper()
	var n int
	if err := e.Pool.QueryRow(e.Ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.T.Fatal(err)
	}
	return n
}

// Scan reads one row into dest, failing the test on any error.
func (e *Env) Scan(t testing.TB, q string, dest ...any) {
	t.Helper()
	if err := e.Pool.QueryRow(e.Ctx, q).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// WantCode checks that err carries the code, and stops the test if not.
func WantCode(t *testing.T, err error, code fault.Code) {
	t.Helper()
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// WantMoney checks an amount (a decimal.Decimal or a money.CNY) that must
// be there.
func WantMoney[T interface{ Equal(decimal.Decimal) bool }](t *testing.T, what string, got *T, want string) {
	t.Helper()
	if got == nil || !(*got).Equal(D(want)) {
		t.Errorf("%s = %v, want %s", what, got, want)
	}
}

// WantOneInstant checks that what one transaction wrote bears one instant.
func WantOneInstant(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for _, v := range times[1:] {
		if !v.Equal(times[0]) {
			t.Errorf("%s at %v, want one instant", what, times)
			return
		}
	}
}

// Lines runs a query of one text column and answers its rows, in order.
func (e *Env) Lines(q string, args ...any) []string {
	e.T.Helper()
	rows, err := e.Pool.Query(e.Ctx, q, args...)
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.T.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		e.T.Fatal(err)
	}
	return out
}

// DiffLines is the lines of got that want lacks ("+ ") and those of want
// that got lacks ("- "), both sorted; empty when they hold the same lines.
// Long differences are cut after 6,000 bytes.
func DiffLines(got, want []string) string {
	var b strings.Builder
	for _, s := range got {
		if _, ok := slices.BinarySearch(want, s); !ok {
			fmt.Fprintf(&b, "+ %s\n", s)
		}
	}
	for _, s := range want {
		if _, ok := slices.BinarySearch(got, s); !ok {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	if b.Len() > 6000 {
		return b.String()[:6000] + "..."
	}
	return b.String()
}

// LockWaiters is how many sessions of the test's database wait for a lock
// now.
func (e *Env) LockWaiters() (n int) {
	e.T.Helper()
	e.Scan(e.T, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`, &n)
	return n
}

// Hold locks what q locks (a SELECT ... FOR UPDATE) in a transaction of its
// own until release is called (or the test ends).
func (e *Env) Hold(q string) (release func()) {
	e.T.Helper()
	tx, err := e.Pool.Begin(e.Ctx)
	if err != nil {
		e.T.Fatal(err)
	}
	if _, err := tx.Exec(e.Ctx, q); err != nil {
		tx.Rollback(e.Ctx)
		e.T.Fatal(err)
	}
	release = func() { tx.Rollback(e.Ctx) }
	e.T.Cleanup(release)
	return release
}

// LockWaitersWithin is how many sessions wait for a lock once want of them
// do, or within d at most (then fewer, or more).
func (e *Env) LockWaitersWithin(d time.Duration, want int) int {
	e.T.Helper()
	n := e.LockWaiters()
	for deadline := time.Now().Add(d); n < want && time.Now().Before(deadline); n = e.LockWaiters() {
		time.Sleep(5 * time.Millisecond)
	}
	return n
}
