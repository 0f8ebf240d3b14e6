package notify_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
)

// The feed orders by transaction number, not by its digits: transactions
// 9, 10, 99 and 100 come in that order (as text they would sort 10, 100,
// 9, 99, and the cursor of a page ending at 99 would skip 100 and read 10
// and 9 again). A cluster's transaction numbers cross such a power of ten
// in its life; the test writes the rows with those numbers, below every
// real one, so that it need not wait for one.
func TestFeedOrdersByTransactionNumberNotItsDigits(t *testing.T) {
	ctx := context.Background()
	pool := testdb.Pool(t)
	l := ledger.New(pool)
	xids := []int64{100, 9, 99, 10, 9, 100} // in the order the rows are written
	type row struct{ xid, seq int64 }
	var want []row
	for _, x := range xids {
		r := row{xid: x}
		if err := pool.QueryRow(ctx, `INSERT INTO notifications (xid, type, customer_id, occurred_at, payload)
VALUES ($1::bigint::text::xid8, 'points.earned', 'C1', now(), '{}') RETURNING id`, x).Scan(&r.seq); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	// By transaction number, then by id (the order written).
	slices.SortStableFunc(want, func(a, b row) int { return int(a.xid - b.xid) })
	for _, limit := range []int{1, 2, 4, 100} {
		var got []int64
		after := notify.Cursor{}
		for range len(xids) + 2 {
			list, next, err := notify.Feed(ctx, l, after, limit, notify.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 0 {
				break
			}
			for _, n := range list {
				got = append(got, n.Seq)
			}
			after = next
		}
		var seqs []int64
		for _, r := range want {
			seqs = append(seqs, r.seq)
		}
		if !slices.Equal(got, seqs) {
			t.Errorf("pages of %d read ids %v, want %v (by transaction %v)", limit, got, seqs, want)
		}
	}
}
