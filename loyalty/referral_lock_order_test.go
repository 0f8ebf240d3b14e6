package loyalty_test

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// A refund in full that cancels a referral bonus locks the referee's
// points and the referrer's together, in their codes' byte order, as
// every writer locks balances (an expiry run's chunk, a manual entry).
// Locked one after the other, referee first, a refund of b1's shipment
// held b1's points and waited for a1's, held by a writer that then wanted
// b1's: a deadlock, which PostgreSQL broke after a second by aborting
// one, and the aborted transaction ran again.
func TestARefundCancellingAReferralLocksBothPointsInByteOrder(t *testing.T) {
	e := newEnv(t)
	e.Customer("a1")
	e.Customer("b1", "a1")
	e.Ship("b1", "S1", "80", march(1, 9))
	e.Clock.Set(march(2, 9))
	credit := func(customer string) func(tx *ledger.Tx) error {
		return func(tx *ledger.Tx) error {
			_, err := tx.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "test", Postings: []ledger.PostingInput{
				{Account: ledger.CustomerAccount(customer, "points"), Amount: decimal.NewFromInt(1),
					Lot: &ledger.Lot{ExpiresAt: march(2, 9).AddDate(1, 0, 0)}},
				{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-1)}}})
			return err
		}
	}
	var res loyalty.Result
	retries := e.Deadlock(t, credit("a1"), credit("b1"), func() {
		res = e.MustProcess(e.Event(loyalty.ShipmentRefunded, "b1", "S1", "80", march(2, 9)))
	})
	if retries != 0 {
		t.Errorf("%d transactions ran again, want none", retries)
	}
	if res.Referral == nil || res.Referral.Status != "cancelled" || res.Referral.ReferrerID != "a1" {
		t.Errorf("refund in full: referral %+v, want a1's bonus cancelled", res.Referral)
	}
	// a1 keeps only the writer's point: the bonus is gone.
	if p := e.Points("a1"); p.Balance != 1 {
		t.Errorf("a1 holds %d points, want 1", p.Balance)
	}
	e.Reconcile()
}
