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
// an account asked twice answered twice; and the first instant after it
// when any of those changes by time alone (a pending lot becomes
// available, a lot expires).
func TestAvailablePointsOfManyAccountsAreEachOnesSummary(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	now := time.Now().Truncate(time.Microsecond) // as PostgreSQL keeps it
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
	for _, tc := range []struct{ at, changes time.Time }{
		{now, now.Add(time.Minute)},                    // A2's 5 expire
		{now.Add(2 * time.Minute), now.Add(time.Hour)}, // A1's 7 become available
		{now.Add(2 * time.Hour), now.AddDate(1, 0, 0)}, // the rest expire
		{now.AddDate(1, 0, 0), time.Time{}},            // nothing left to change
	} {
		var want []int64
		at := tc.at
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
		var changes time.Time
		var b pgx.Batch
		ledger.QueueAvailablePoints(&b, codes, at, got, &changes)
		if err := pool.SendBatch(ctx, &b).Close(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("at now%+v: available %v, want each summary's %v", at.Sub(now).Round(time.Minute), got, want)
		}
		if !changes.Equal(tc.changes) {
			t.Errorf("at now%+v: changes at %v, want %v", at.Sub(now).Round(time.Minute), changes, tc.changes)
		}
	}
}
