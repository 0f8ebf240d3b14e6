package finance_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/servicetest"
)

// env is a fresh database with every service that writes what finance
// reads, and finance (servicetest.Env).
type env struct{ *servicetest.Env }

// newEnv is a fresh database with the clock at 2026-03-15 12:00 Shanghai.
func newEnv(t *testing.T) *env { return &env{servicetest.New(t)} }

// Shorthands for the fixtures of servicetest.
var shanghai, march, d = servicetest.Shanghai, servicetest.March, servicetest.D

func shanghaiAt(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 0, 0, 0, shanghai)
}

// heldBefore sums the accounts' balances over the entries effective before
// t, as the ledger reads one account's balance as of an instant.
func (e *env) heldBefore(t testing.TB, at time.Time, codes ...string) decimal.Decimal {
	t.Helper()
	sum := decimal.Zero
	for _, code := range codes {
		b, err := e.Ledger.BalanceAsOf(e.Ctx, code, at.Add(-time.Microsecond))
		if err != nil {
			t.Fatalf("%s as of %s: %v", code, at, err)
		}
		sum = sum.Add(b)
	}
	return sum
}
