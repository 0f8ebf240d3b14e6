package loyalty_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/loyalty"
)

// The monthly cap holds within one batch: 21 referees of one referrer
// first ship in the same batch, so the grouped path counts, as it goes,
// the bonuses it pays the referrer: 20 are paid, the 21st is capped
// (DOMAIN: at most 20 referral bonuses per referrer per calendar month).
func TestReferralMonthlyCapHoldsWithinOneBatch(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	events := make([]loyalty.Event, 21)
	for i := range events {
		id := fmt.Sprintf("E%02d", i)
		e.Customer(id, "R")
		events[i] = e.Event(loyalty.ShipmentCompleted, id, "S"+id, "60", march(2, 9))
	}
	paid, capped := 0, 0
	for i, o := range e.ProcessBatch(e.Key, events) {
		switch {
		case o.Err != nil:
			t.Fatalf("event %d: %v", i, o.Err)
		case o.Result.Referral == nil:
			t.Errorf("event %d (%s): no referral, want one paid or capped", i, events[i].CustomerID)
		case o.Result.Referral.Status == "pending":
			paid++
		case o.Result.Referral.Status == "capped":
			capped++
		}
	}
	if paid != 20 || capped != 1 {
		t.Errorf("%d referrals paid and %d capped in one batch, want 20 and 1", paid, capped)
	}
	e.wantReferrerCapped(t, "R")
}

// wantReferrerCapped checks the books of a referrer whose 21 referees
// qualified in one month (the only referrer of the test): 20 bonuses of
// 500 paid, 1 recorded capped.
func (e *env) wantReferrerCapped(t *testing.T, referrer string) {
	t.Helper()
	if p := e.Points(referrer); p.Balance != 20*500 {
		t.Errorf("referrer balance %d, want 10000 (20 paid, 1 capped)", p.Balance)
	}
	var capped int
	e.Scan(t, `SELECT count(*) FROM referral_bonuses WHERE status = 'capped'`, &capped)
	if capped != 1 {
		t.Errorf("%d capped bonuses recorded, want 1", capped)
	}
}
