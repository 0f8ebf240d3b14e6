package ledger_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/ledger"
)

// QueueAvailablePoints reads, for many accounts in one statement, what
// LotSummary reads as Available for each: lots available and unexpired at
// the instant, not pending or expired ones, not spent ones; 0 for an
// account without lots and for an unknown account; in the order asked,
// an account asked twice answered twice.
func TestAvailablePointsOfManyAccountsAreEachOnesSummary(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	now := time.Now()
	mustPost(t, l, earnLot("A1", "10", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(1, 0, 0)}))
	mustPost(t, l, earnLot("A1", "7", ledger.Lot{AvailableAt: now.Add(time.Hour), ExpiresAt: now.AddDate(1, 0, 0)}))  // pending
	mustPost(t, l, earnLot("A2", "5", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Minute)})) // expires soon
	mustPost(t, l, earnLot("A2", "3", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(1, 0, 0)}))
	mustPost(t, l, earnLot("A3", "4", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(1, 0, 0)}))
	mustPost(t, l, redeem("A3", "4")) // spent whole
	if _, err := pool.Exec(ctx, `INSERT INTO accounts (code, asset, allow_negative) VALUES ('customer:A4:points', 'PTS', false)`); err != nil {
		t.Fatal(err) // an account without lots
	}
	codes := []string{"customer:A2:points", "customer:A1:points", "customer:NOSUCH:points", "customer:A3:points",
		"customer:A4:points", "customer:A1:points"}
	for _, at := range []time.Time{now, now.Add(2 * time.Minute), now.Add(2 * time.Hour)} {
		var want []int64
		at := at
		err := ledger.New(pool, ledger.WithClock(func() time.Time { return at })).InTx(ctx, func(tx *ledger.Tx) error {
			for _, c := range codes {
				s, err := tx.LotSummary(ctx, c, at)
				if err != nil {
					return err
				}
				want = append(want, s.Available)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int64, len(codes))
		var b pgx.Batch
		ledger.QueueAvailablePoints(&b, codes, at, got)
		if err := pool.SendBatch(ctx, &b).Close(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("at now%+v: available %v, want each summary's %v", at.Sub(now).Round(time.Minute), got, want)
		}
	}
}
