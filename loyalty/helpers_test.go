package loyalty_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

// env is a fresh database with every service on it (servicetest.Env); the
// catalogue spends points the way customers do, for the tests whose events
// meet points already spent.
type env struct{ *servicetest.Env }

// newEnv is a fresh database with the clock at 2026-03-15 12:00 Shanghai.
func newEnv(t *testing.T) *env { return &env{servicetest.New(t)} }

// sendEventByEvent sends the env's events through the path a group falls
// back to (loyalty.Service.ProcessEventByEvent) when on, through
// ProcessBatch when not.
func (e *env) sendEventByEvent(on bool) {
	e.Send = e.Loyalty.ProcessBatch
	if on {
		e.Send = e.Loyalty.ProcessEventByEvent
	}
}

// Shorthands for the fixtures of servicetest.
var shanghai, march, d = servicetest.Shanghai, servicetest.March, servicetest.D

func ptr[T any](v T) *T { return &v }

// statementLines are the customer's statement, newest first.
func (e *env) statementLines(customer string) []string {
	e.T.Helper()
	entries, _, err := e.Loyalty.Statement(e.Ctx, customer, 0, 100)
	if err != nil {
		e.T.Fatal(err)
	}
	out := make([]string, len(entries))
	for i, s := range entries {
		out[i] = s.Description
	}
	return out
}

// createCampaignAhead creates the campaign as an admin would, ahead of its
// start: with the clock standing an hour before it, then put back.
func (e *env) createCampaignAhead(c loyalty.Campaign) (loyalty.Campaign, bool, error) {
	e.T.Helper()
	saved := e.Clock.Now()
	defer e.Clock.Set(saved)
	e.Clock.Set(c.StartsAt.Add(-time.Hour))
	return e.Loyalty.CreateCampaign(e.Ctx, c)
}
