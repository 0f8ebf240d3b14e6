package catalog_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestTogetherEqualsEach checks the group made together (decided in Go
// against the stock, limits and points the redemptions before leave) against
// the same group made redemption by redemption in savepoints: the same
// random redemptions of a standard product, a level product and a featured
// one with a stock, a per-customer limit and a window, by customers of
// several levels and points (some too few), must give the same answers and
// the same books, lot draws and notices included. Each group is made
// together (no fallback), and so is a last group with retries in it (of
// redemptions made earlier, one sent again with another quantity, one
// naming a product that does not exist): it answers alike too.
func TestTogetherEqualsEach(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			together, each := newEnv(t), newEnv(t)
			for _, e := range []*env{together, each} {
				for c, amount := range []string{"300", "2000", "9000", "40000", "120"} {
					id := fmt.Sprintf("R%d", c)
					e.Customer(id)
					e.Ship(id, "S"+id+"a", amount, time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai)) // last month: the level
					e.Ship(id, "S"+id+"b", "150", march(2, 9))
				}
				e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 40})
				e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Level, PointsPrice: 90, MinLevel: ptr(10)})
				e.Product(catalog.Product{SKU: "kite", Name: "Kite", Kind: catalog.Featured, PointsPrice: 25,
					ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(7), PerCustomerLimit: ptr(2)})
				e.Product(catalog.Product{SKU: "old", Name: "Old", Kind: catalog.Featured, PointsPrice: 5,
					ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(2, 0)), Stock: ptr(50)})
			}
			r := rand.New(rand.NewPCG(seed, 11))
			var (
				seen    []string
				retries []catalog.RedemptionInput
			)
			for g := range 5 {
				ins := randomRedemptions(r, g, 30)
				a := together.answers(together.Catalog.RedeemGroup(together.Ctx, ins, "test", false))
				b := each.answers(each.Catalog.RedeemGroup(each.Ctx, ins, "test", true))
				for i := range a {
					if a[i] != b[i] {
						t.Errorf("group %d, %s: together\n  %s\neach\n  %s", g, ins[i].ID, a[i], b[i])
					}
					if len(retries) < 2 && !strings.HasPrefix(a[i], "refused") {
						retries = append(retries, ins[i])
					}
				}
				seen = append(seen, a...)
			}
			if n := together.Catalog.Stats().Fallbacks.Load(); n != 0 {
				t.Errorf("%d groups fell back to redemption by redemption, want none", n)
			}
			more, nowhere := retries[0], retries[0]
			more.Quantity++
			nowhere.SKU = "nope"
			ins := slices.Concat([]catalog.RedemptionInput{retries[0]}, randomRedemptions(r, 9, 3),
				[]catalog.RedemptionInput{more, nowhere, retries[1]})
			a := together.answers(together.Catalog.RedeemGroup(together.Ctx, ins, "test", false))
			b := each.answers(each.Catalog.RedeemGroup(each.Ctx, ins, "test", true))
			if !slices.Equal(a, b) {
				t.Errorf("with retries: together\n  %s\neach\n  %s", strings.Join(a, "\n  "), strings.Join(b, "\n  "))
			}
			if n := together.Catalog.Stats().Fallbacks.Load(); n != 0 {
				t.Errorf("the group with retries fell back %d times, want none", n)
			}
			replays, conflicts, unknown := 0, 0, 0
			for _, x := range a {
				switch {
				case strings.HasSuffix(x, "replayed true"):
					replays++
				case strings.HasPrefix(x, "refused idempotency_conflict"):
					conflicts++
				case strings.HasPrefix(x, "refused unknown_product"):
					unknown++
				}
			}
			if replays != 2 || conflicts != 1 || unknown < 1 {
				t.Errorf("%d replays, %d conflicts and %d unknown products among the answers, want 2, 1 and at least 1:\n  %s",
					replays, conflicts, unknown, strings.Join(a, "\n  "))
			}
			if diff := servicetest.DiffLines(together.redemptionBooks(t), each.redemptionBooks(t)); diff != "" {
				t.Errorf("the books differ (+ together, - each):\n%s", diff)
			}
			all := strings.Join(seen, "\n")
			for _, want := range []string{`"sku":"pen"`, `"sku":"mug"`, `"sku":"kite"`, "refused insufficient_points",
				"refused not_eligible", "refused out_of_stock", "refused limit_reached", "refused outside_window",
				"refused unknown_product"} {
				if !strings.Contains(all, want) {
					t.Errorf("no answer has %s: the redemptions test too little", want)
				}
			}
		})
	}
}

// randomRedemptions is n random redemptions of group g, by customers R0 to R4.
func randomRedemptions(r *rand.Rand, g, n int) []catalog.RedemptionInput {
	ins := make([]catalog.RedemptionInput, n)
	for i := range ins {
		ins[i] = catalog.RedemptionInput{ID: fmt.Sprintf("g%d-%d", g, i), CustomerID: fmt.Sprintf("R%d", r.IntN(5)),
			SKU: []string{"pen", "pen", "mug", "kite", "kite", "old", "nope"}[r.IntN(7)], Quantity: 1 + r.IntN(3)}
	}
	return ins
}

// answers describes each redemption's answer: the redemption as JSON
// (its entry as the redemption it belongs to: entries refused by the lots
// leave gaps in the ids of one path and not the other), whether it was a
// replay, or the error's code and message.
func (e *env) answers(rs []catalog.Redemption, replayed []bool, errs []error) []string {
	t := e.T
	out := make([]string, len(rs))
	for i, r := range rs {
		if errs[i] != nil {
			out[i] = fmt.Sprintf("refused %s: %v", fault.CodeOf(errs[i]), errs[i])
			continue
		}
		if r.EntryID == 0 {
			t.Errorf("redemption %s has no entry", r.ID)
		}
		r.EntryID = 0
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = fmt.Sprintf("%s replayed %v", b, replayed[i])
	}
	return out
}

// redemptionBooks is every row the redemptions wrote, sorted, each entry
// named by the redemption it records: entries with their postings and lot
// draws, redemptions, products, notifications, balances and lots.
func (e *env) redemptionBooks(t *testing.T) []string {
	t.Helper()
	out := e.Lines(`
WITH named AS (SELECT coalesce(en.metadata->>'redemption_id', en.metadata->>'event_id', en.id::text) AS name, en.*
    FROM entries en)
SELECT concat_ws(' ', 'entry', n.name, n.kind, n.effective_at, n.recorded_at, encode(n.request_hash, 'hex'), n.metadata::text, n.actor)
    FROM named n
UNION ALL SELECT concat_ws(' ', 'posting', n.name, a.code, trim_scale(p.amount), trim_scale(p.balance_after), p.effective_at)
    FROM postings p JOIN accounts a ON a.id = p.account_id JOIN named n ON n.id = p.entry_id
UNION ALL SELECT concat_ws(' ', 'draw', n.name, l.amount, d.amount, l.expires_at)
    FROM lot_draws d JOIN named n ON n.id = d.entry_id JOIN points_lots l ON l.id = d.lot_id
UNION ALL SELECT concat_ws(' ', 'redemption', r.space, r.id, r.customer_id, r.sku, r.quantity, r.points, n.name, r.created_at,
    encode(r.request_hash, 'hex')) FROM redemptions r JOIN named n ON n.id = r.entry_id
UNION ALL SELECT concat_ws(' ', 'product', sku, stock) FROM products
UNION ALL SELECT concat_ws(' ', 'notification', n.type, n.customer_id, n.occurred_at, n.payload::jsonb - 'entry_id', n.once_key)
    FROM notifications n
UNION ALL SELECT concat_ws(' ', 'balance', a.code, trim_scale(sum(b.balance))) FROM balance_buckets b
    JOIN accounts a ON a.id = b.account_id GROUP BY a.code
UNION ALL SELECT concat_ws(' ', 'lot', a.code, l.amount, l.remaining, l.expires_at) FROM points_lots l
    JOIN accounts a ON a.id = l.account_id`)
	slices.Sort(out)
	return out
}
