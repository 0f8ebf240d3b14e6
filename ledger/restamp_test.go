package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// TestADrawAfterItsLockIsDatedAfterWhatCameBackMeanwhile: a transaction
// begins (its Now), then a reversal dated later, which began after it,
// puts points back and commits before the transaction locks the account;
// the transaction then spends those points. Dated at its start, the draw
// would come, by date, before the points it spent: the books right, but
// the account below zero between the two instants
// (never_below_zero_by_date). Restamped once it holds the lock, the draw
// is dated from then on. Without Restamp, the check fails.
func TestADrawAfterItsLockIsDatedAfterWhatCameBackMeanwhile(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	l, _, clock := clockedLedger(t, start)
	mustPost(t, l, earnLot("C1", "100", ledger.Lot{AvailableAt: start.Add(-time.Hour), ExpiresAt: lotExpiry}))
	spent := mustPost(t, l, redeem("C1", "100")) // nothing left

	var id int64
	err := l.InTx(ctx, func(tx *ledger.Tx) error {
		// Meanwhile, a second later: the redemption cancelled.
		clock.set(start.Add(time.Second))
		if _, _, err := l.Reverse(ctx, spent.ID, ledger.ReversalInput{Actor: "test", Reason: "cancelled"}); err != nil {
			return err
		}
		clock.set(start.Add(2 * time.Second))
		if err := tx.LockBalance(ctx, "customer:C1:points"); err != nil {
			return err
		}
		tx.Restamp()
		return tx.PostMany(ctx, []ledger.EntryInput{redeem("C1", "100")}, nil, func(ids []int64, _ *pgx.Batch) error {
			id = ids[0]
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	drew, err := l.Entry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := start.Add(2 * time.Second); !drew.EffectiveAt.Equal(want) {
		t.Errorf("the draw is dated %v, want %v: when it held the lock", drew.EffectiveAt, want)
	}
	wantBalance(t, l, "customer:C1:points", "0")
	mustReconcile(t, l)
}
