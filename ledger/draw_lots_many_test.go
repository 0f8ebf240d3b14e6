package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/ledger"
)

// draw_lots_many, called as a caller other than PostMany might (an entry
// of two lines on one account, arrays of different lengths, a negative or
// a zero amount), draws every point it is asked for or fails: never fewer
// points than asked with no error. Each case runs in a transaction rolled
// back; C1 holds 30 available points in three lots.
func TestDrawLotsManyNeverDrawsLessThanAskedWithoutFailing(t *testing.T) {
	ctx := context.Background()
	l, pool := newLedger(t)
	now := time.Now()
	for _, expires := range []int{3, 4, 5} {
		mustPost(t, l, earnLot("C1", "10", ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.AddDate(0, expires, 0)}))
	}
	for _, tc := range []struct {
		name    string
		entries []int64
		codes   []string
		amounts []int64
		want    string // "": drawn in full; else a word of the error
	}{
		{"TwoLinesOfOneEntryBothCovered", []int64{1, 1}, []string{"customer:C1:points", "customer:C1:points"}, []int64{10, 15}, ""},
		{"TwoLinesOfOneEntryInOneLot", []int64{1, 1}, []string{"customer:C1:points", "customer:C1:points"}, []int64{5, 3}, ""},
		{"TwoLinesOfOneEntryNotCovered", []int64{1, 1}, []string{"customer:C1:points", "customer:C1:points"}, []int64{10, 30}, "lacks"},
		{"AnAmountMissing", []int64{1, 2}, []string{"customer:C1:points", "customer:C1:points"}, []int64{10}, "amount"},
		{"ANegativeAmount", []int64{1}, []string{"customer:C1:points"}, []int64{-5}, "amount"},
		{"ANegativeAmountBeforeAnotherDraw", []int64{1, 2}, []string{"customer:C1:points", "customer:C1:points"}, []int64{-20, 40}, "amount"},
		{"AZeroAmount", []int64{1}, []string{"customer:C1:points"}, []int64{0}, "amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			// The entries the draws belong to, ids far from the sequence's.
			ids := make([]int64, len(tc.entries))
			for i, e := range tc.entries {
				ids[i] = 900_000_000 + e
			}
			if _, err := tx.Exec(ctx, `INSERT INTO entries (id, kind, effective_at, request_hash, metadata, actor, recorded_at)
OVERRIDING SYSTEM VALUE SELECT DISTINCT u, 'redeem', now(), '\x00'::bytea, '{}'::jsonb, 'test', now() FROM unnest($1::bigint[]) u`, ids); err != nil {
				t.Fatal(err)
			}
			_, err = tx.Exec(ctx, `SELECT draw_lots_many($1, $2, $3, $4)`, tc.codes, ids, tc.amounts, now)
			var asked, drawn int64
			for _, a := range tc.amounts {
				asked += a
			}
			if err == nil {
				if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM lot_draws WHERE entry_id = ANY($1)`, ids).
					Scan(&drawn); err != nil {
					t.Fatal(err)
				}
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("draws of %v: %v, want them drawn", tc.amounts, err)
			case tc.want == "" && drawn != asked:
				t.Errorf("draws of %v drew %d points, want %d", tc.amounts, drawn, asked)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("draws of %v: %v (drew %d), want an error naming %q", tc.amounts, err, drawn, tc.want)
			}
		})
	}
}
