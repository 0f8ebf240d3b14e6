package prepaid_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
)

// env is a fresh database with every service on it (servicetest.Env): the
// loyalty programme for customers and rule versions, and prepaid money.
type env struct{ *servicetest.Env }

// newEnv is a fresh database with the clock at 2026-03-15 12:00 Shanghai.
func newEnv(t *testing.T) *env { return &env{servicetest.New(t)} }

// Shorthands for the fixtures of servicetest.
var shanghai, march, d = servicetest.Shanghai, servicetest.March, servicetest.D

// rebateCheck is the outcome of the rebate check in a ledger
// reconciliation.
func (e *env) rebateCheck() (ledger.Check, error) {
	r, err := e.Ledger.Reconcile(e.Ctx, e.Prepaid.RebateCheck)
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
