package prepaid_test

import (
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// TestEachMovementHasOneClock runs prepaid money on a clock that moves on a
// second each time it is read, and checks that what one transaction writes
// (the movement's row and its entry) bears one instant.
func TestEachMovementHasOneClock(t *testing.T) {
	e := servicetest.NewTicking(t)
	e.Customer("C1")

	m, _, err := e.Prepaid.Deposit(e.Ctx, prepaid.MoneyInput{ID: "d1", CustomerID: "C1", Amount: d("1000")}, "test")
	if err != nil {
		t.Fatal(err)
	}
	dep := e.Entry(m.EntryID)
	var created time.Time
	e.Scan(t, `SELECT created_at FROM money_movements WHERE id = 'd1'`, &created)
	for _, v := range []time.Time{created, dep.EffectiveAt, dep.RecordedAt} {
		if !v.Equal(m.OccurredAt) {
			t.Errorf("a deposit sent without a time: occurred %s; recorded, its entry effective and recorded at %s, %s, %s; want one instant",
				m.OccurredAt, created, dep.EffectiveAt, dep.RecordedAt)
			break
		}
	}
}
