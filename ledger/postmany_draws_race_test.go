package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// Two ledgers on one database (two servers) draw one customer's points at
// once: groups of draws through PostMany, single draws through Post, and
// reversals of earlier draws putting points back into their lots. Every
// point is drawn at most once: each call either draws all it asks, from
// available lots only, or fails whole with insufficient funds; the pending
// lot is never touched; the lots hold what the balance says is available;
// each draw's lot_draws add up to its posting; and the books reconcile.
func TestPostManyDrawsRacingPostsAndReversalsOnTwoLedgersDrawEachPointOnce(t *testing.T) {
	const workers, steps = 6, 15
	ctx := context.Background()
	l, pool := newLedger(t)
	servers := []*ledger.Ledger{l, ledger.New(pool)}
	now := time.Now()
	for _, points := range []string{"40", "70", "25", "60", "105"} {
		mustPost(t, l, earnLot("C1", points, ledger.Lot{AvailableAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Duration(len(points)) * 24 * time.Hour)}))
	}
	mustPost(t, l, earnLot("C1", "50", ledger.Lot{AvailableAt: now.Add(24 * time.Hour), ExpiresAt: now.Add(90 * 24 * time.Hour)}))
	var (
		mu        sync.Mutex
		available int64   = 300
		drawn     []int64 // entries of draws not reversed
		refused   int
		wg        sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 11))
			for range steps {
				led := servers[r.IntN(2)]
				switch r.IntN(4) {
				case 0, 1: // a group of draws
					var ins []ledger.EntryInput
					var sum int64
					for range 1 + r.IntN(3) {
						n := int64(1 + r.IntN(30))
						ins, sum = append(ins, redeem("C1", fmt.Sprint(n))), sum+n
					}
					var ids []int64
					// As its callers do: the account locked, then the draws
					// dated from then on (Tx.Restamp).
					err := led.InTx(ctx, func(tx *ledger.Tx) error {
						if err := tx.LockBalance(ctx, "customer:C1:points"); err != nil {
							return err
						}
						tx.Restamp()
						return tx.PostMany(ctx, ins, nil, func(got []int64, _ *pgx.Batch) error { ids = got; return nil })
					})
					mu.Lock()
					switch {
					case err == nil:
						available -= sum
						drawn = append(drawn, ids...)
					case fault.CodeOf(err) == fault.InsufficientFunds:
						refused++
					default:
						t.Errorf("PostMany: %v", err)
					}
					mu.Unlock()
				case 2: // one draw
					n := int64(1 + r.IntN(30))
					e, _, err := led.Post(ctx, redeem("C1", fmt.Sprint(n)))
					mu.Lock()
					switch {
					case err == nil:
						available -= n
						drawn = append(drawn, e.ID)
					case fault.CodeOf(err) == fault.InsufficientFunds:
						refused++
					default:
						t.Errorf("Post: %v", err)
					}
					mu.Unlock()
				case 3: // a draw put back
					mu.Lock()
					if len(drawn) == 0 {
						mu.Unlock()
						continue
					}
					k := r.IntN(len(drawn))
					id := drawn[k]
					drawn = append(drawn[:k], drawn[k+1:]...)
					mu.Unlock()
					rev, _, err := led.Reverse(ctx, id, ledger.ReversalInput{Actor: "test", Reason: "cancelled"})
					if err != nil {
						t.Errorf("reverse %d: %v", id, err)
						continue
					}
					mu.Lock()
					for _, p := range rev.Postings {
						if p.Account == "customer:C1:points" {
							available += p.Amount.IntPart()
						}
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if refused == 0 {
		t.Log("no call was refused: the race did not reach the lots' end")
	}
	if got := balance(t, l, "customer:C1:points"); got.IntPart() != available+50 {
		t.Errorf("balance %s, want %d available and 50 pending", got, available)
	}
	var lotsAvailable, pending, negative, unmatched int64
	if err := pool.QueryRow(ctx, `SELECT
    coalesce(sum(remaining) FILTER (WHERE available_at <= now()), 0),
    coalesce(sum(remaining) FILTER (WHERE available_at > now()), 0),
    count(*) FILTER (WHERE remaining < 0 OR remaining > amount),
    (SELECT count(*) FROM (SELECT p.entry_id FROM postings p JOIN accounts a ON a.id = p.account_id
                           WHERE a.code = 'customer:C1:points' AND p.amount < 0
                           AND p.amount <> -coalesce((SELECT sum(amount) FROM lot_draws d WHERE d.entry_id = p.entry_id), 0)) x)
FROM points_lots`).Scan(&lotsAvailable, &pending, &negative, &unmatched); err != nil {
		t.Fatal(err)
	}
	if lotsAvailable != available || pending != 50 || negative != 0 || unmatched != 0 {
		t.Errorf("lots: %d available (want %d), %d pending (want 50), %d out of bounds, %d draws whose lot_draws differ from the posting",
			lotsAvailable, available, pending, negative, unmatched)
	}
	mustReconcile(t, l)
}
