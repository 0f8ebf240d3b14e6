package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

func earnLot(customer, points string, lot ledger.Lot) ledger.EntryInput {
	in := earn(customer, points)
	in.Postings[1].Lot = &lot
	return in
}

// remaining lists the customer's lots' remaining amounts by lot id order.
func remaining(t *testing.T, pool *pgxpool.Pool, customer string) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT l.remaining FROM points_lots l
JOIN accounts a ON a.id = l.account_id WHERE a.code = $1 ORDER BY l.id`, "customer:"+customer+":points")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var r int64
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantRemaining(t *testing.T, pool *pgxpool.Pool, customer string, want ...int64) {
	t.Helper()
	got := remaining(t, pool, customer)
	if len(got) != len(want) {
		t.Fatalf("lots %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("lots %v, want %v", got, want)
		}
	}
}

func TestDebitsDrawSoonestExpiringAvailableLotsFirst(t *testing.T) {
	l, pool := newLedger(t)
	now := time.Now()
	mustPost(t, l, earnLot("C1", "100", ledger.Lot{ExpiresAt: now.AddDate(0, 3, 0)})) // lot 1
	mustPost(t, l, earnLot("C1", "50", ledger.Lot{ExpiresAt: now.AddDate(0, 1, 0)}))  // lot 2: soonest
	mustPost(t, l, earnLot("C1", "70", ledger.Lot{ExpiresAt: now.AddDate(0, 2, 0)}))  // lot 3
	redemption := mustPost(t, l, redeem("C1", "80"))
	wantRemaining(t, pool, "C1", 100, 0, 40)

	t.Run("PendingPointsCannotBeSpent", func(t *testing.T) {
		mustPost(t, l, earnLot("C1", "500", ledger.Lot{AvailableAt: now.Add(14 * 24 * time.Hour), ExpiresAt: now.AddDate(1, 0, 0)}))
		// 640 points in the balance, but only 140 available.
		_, _, err := l.Post(context.Background(), redeem("C1", "141"))
		wantCode(t, err, fault.InsufficientFunds)
		wantBalance(t, l, "customer:C1:points", "640")
		wantRemaining(t, pool, "C1", 100, 0, 40, 500)
	})
	t.Run("ReversalReturnsPointsToTheirLots", func(t *testing.T) {
		if _, _, err := l.Reverse(context.Background(), redemption.ID, ledger.ReversalInput{Actor: "t", Reason: "cancelled"}); err != nil {
			t.Fatal(err)
		}
		wantRemaining(t, pool, "C1", 100, 50, 70, 500)
	})
	mustReconcile(t, l)
}

func TestExpiredLotsCannotBeSpentAndExpireOnce(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	now := time.Now()
	past := now.Add(-time.Hour)
	mustPost(t, l, earnLot("C1", "30", ledger.Lot{AvailableAt: past.AddDate(-1, 0, 0), ExpiresAt: past}))
	mustPost(t, l, earnLot("C1", "20", ledger.Lot{ExpiresAt: now.AddDate(1, 0, 0)}))
	_, _, err := l.Post(ctx, redeem("C1", "21"))
	wantCode(t, err, fault.InsufficientFunds)

	expire := ledger.EntryInput{Kind: "expiry", Actor: "t", Postings: []ledger.PostingInput{
		{Account: "customer:C1:points", Amount: d("-30"), ExpiringBy: &now},
		{Account: "platform:points:expired", Amount: d("30")},
	}}
	mustPost(t, l, expire)
	wantRemaining(t, pool, "C1", 0, 20)
	// Nothing is left to expire: the same expiry again is refused.
	_, _, err = l.Post(ctx, expire)
	wantCode(t, err, fault.InsufficientFunds)
	mustReconcile(t, l)
}

func TestReversingACreditTakesBackItsOwnLot(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	now := time.Now()
	mustPost(t, l, earnLot("C1", "10", ledger.Lot{ExpiresAt: now.AddDate(0, 1, 0)}))
	e := mustPost(t, l, earnLot("C1", "10", ledger.Lot{ExpiresAt: now.AddDate(0, 6, 0)}))
	if _, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "t", Reason: "wrong"}); err != nil {
		t.Fatal(err)
	}
	wantRemaining(t, pool, "C1", 10, 0) // not the soonest-expiring lot
	mustReconcile(t, l)
}

// A debit FromLots takes exactly the points it names from each lot,
// expired or not, and nothing unless every lot named is the account's and
// holds them; the lots must make up the debit.
func TestADebitFromNamedLotsTakesExactlyThem(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	now := time.Now()
	past := now.Add(-time.Hour)
	mustPost(t, l, earnLot("C1", "30", ledger.Lot{AvailableAt: past.AddDate(-1, 0, 0), ExpiresAt: past})) // expired
	mustPost(t, l, earnLot("C1", "20", ledger.Lot{ExpiresAt: now.AddDate(1, 0, 0)}))
	mustPost(t, l, earnLot("C2", "40", ledger.Lot{ExpiresAt: now.AddDate(1, 0, 0)}))
	rows, _ := pool.Query(ctx, `SELECT id FROM points_lots ORDER BY id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) != 3 {
		t.Fatalf("lots %v (%v), want 3", ids, err)
	}
	from := func(amount string, takes ...ledger.LotTake) ledger.EntryInput {
		return ledger.EntryInput{Kind: "adjustment", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "customer:C1:points", Amount: d(amount).Neg(), FromLots: takes},
			{Account: "platform:points:earned:adjustment", Amount: d(amount)},
		}}
	}
	for _, c := range []struct {
		name string
		in   ledger.EntryInput
		code fault.Code
	}{
		{"LotsShortOfTheDebit", from("25", ledger.LotTake{LotID: ids[0], Points: 20}), fault.Invalid},
		{"NothingFromALot", from("5", ledger.LotTake{LotID: ids[0], Points: 5}, ledger.LotTake{LotID: ids[1], Points: 0}), fault.Invalid},
		{"MoreThanALotHolds", from("31", ledger.LotTake{LotID: ids[0], Points: 31}), fault.InsufficientFunds},
		{"AnotherAccountsLot", from("10", ledger.LotTake{LotID: ids[2], Points: 10}), fault.InsufficientFunds},
		{"ALotNamedTwice", from("20", ledger.LotTake{LotID: ids[0], Points: 10}, ledger.LotTake{LotID: ids[0], Points: 10}), fault.Invalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := l.Post(ctx, c.in)
			wantCode(t, err, c.code)
			wantRemaining(t, pool, "C1", 30, 20)
			wantRemaining(t, pool, "C2", 40)
		})
	}
	mustPost(t, l, from("35", ledger.LotTake{LotID: ids[0], Points: 25}, ledger.LotTake{LotID: ids[1], Points: 10}))
	wantRemaining(t, pool, "C1", 5, 10)
	wantBalance(t, l, "customer:C1:points", "15")
	mustReconcile(t, l)
}
