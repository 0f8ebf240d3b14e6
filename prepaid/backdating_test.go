package prepaid_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// windowStart is the earliest occurred_at the default back-dating window
// (60 days) allows for a movement recorded at the test clock's 2026-03-15
// 12:00 Shanghai: 14 days back to 1 March, 28 to 1 February, 18 more to 14
// January.
var windowStart = time.Date(2026, 1, 14, 12, 0, 0, 0, shanghai)

func TestMoneyMovementsDatedBeforeTheBackdatingWindowAreRefused(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	tooOld := windowStart.Add(-time.Microsecond)
	for _, kind := range []string{prepaid.Deposit, prepaid.Charge, prepaid.Withdrawal} {
		t.Run(kind, func(t *testing.T) {
			e.MoneyAt(t, prepaid.Deposit, "fund-"+kind, "C1", "100", windowStart) // something to charge and withdraw
			before := e.TableRows("money_movements")
			_, err := move(e, kind, prepaid.MoneyInput{ID: "old-" + kind, CustomerID: "C1", Amount: d("10"), OccurredAt: tooOld, ShipmentID: "S1"})
			servicetest.WantCode(t, err, fault.OccurredAtTooOld)
			if n := e.TableRows("money_movements"); n != before {
				t.Errorf("the refused %s recorded %d movements", kind, n-before)
			}
			m, err := move(e, kind, prepaid.MoneyInput{ID: "edge-" + kind, CustomerID: "C1", Amount: d("10"), OccurredAt: windowStart, ShipmentID: "S1"})
			if err != nil || !m.OccurredAt.Equal(windowStart) {
				t.Errorf("%s at the window's first instant: %+v, %v; want it recorded", kind, m, err)
			}
		})
	}
	e.Reconcile()
}

// A retry of a movement recorded within the window answers what was
// recorded, however late it comes.
func TestAMoneyRetryAfterTheWindowHasPassedIsReplayed(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	in := prepaid.MoneyInput{ID: "dp-1", CustomerID: "C1", Amount: d("1000"), OccurredAt: march(15, 11)}
	first, _, err := e.Prepaid.Deposit(e.Ctx, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Add(61 * 24 * time.Hour)
	again, replayed, err := e.Prepaid.Deposit(e.Ctx, in, "test")
	if err != nil || !replayed || again.EntryID != first.EntryID {
		t.Errorf("retry: replayed %v, entry %d, %v; want entry %d replayed", replayed, again.EntryID, err, first.EntryID)
	}
	in.ID = "dp-2"
	_, _, err = e.Prepaid.Deposit(e.Ctx, in, "test")
	servicetest.WantCode(t, err, fault.OccurredAtTooOld)
	e.Reconcile()
}

// move records the movement of the kind as it is sent.
func move(e *env, kind string, in prepaid.MoneyInput) (m prepaid.MoneyMovement, err error) {
	switch kind {
	case prepaid.Deposit:
		m, _, err = e.Prepaid.Deposit(e.Ctx, in, "test")
	case prepaid.Charge:
		m, _, err = e.Prepaid.Charge(e.Ctx, in, "test")
	default:
		m, _, err = e.Prepaid.Withdraw(e.Ctx, in, "test")
	}
	return m, err
}
