package catalog_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// TestTwoServersRedeemingAndCancellingKeepStockLimitsAndPointsExact: two
// catalogue services on one database (two servers, each with its own group
// commit) take, from 16 goroutines at once, submissions of one to four
// redemptions and cancellations of eight customers, mostly under new ids,
// one in six under an id sent before, so that the same id is sent to both
// servers at once (a retry racing its original), sometimes with another
// quantity (a conflict), and a cancellation races the groups of its
// customer. Two featured products: one whose stock runs out, one whose
// per-customer limit binds first. Afterwards, from the rows: every
// redemption answered made is recorded as answered, every replay answers
// the redemption recorded, every conflict names an id recorded with other
// details; each featured product's stock is its first stock less the units
// of the redemptions not cancelled (never below zero), no customer holds
// more units of one than its limit, and each customer's points are what
// they earned less the points of their redemptions not cancelled. Every
// refusal is one the rules allow (a deadlock is not); the books check ends
// the test.
func TestTwoServersRedeemingAndCancellingKeepStockLimitsAndPointsExact(t *testing.T) {
	e := newEnv(t)
	l2 := ledger.New(e.Pool, ledger.WithClock(e.Clock.Now))
	servers := []*catalog.Service{e.Catalog, catalog.New(e.Pool, l2, loyalty.New(e.Pool, l2))}
	const (
		stock, limit, customers = 20, 3, 8
		capLimit                = 2
		workers, ops            = 16, 25
	)
	e.Product(catalog.Product{SKU: "kite", Name: "Kite", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(stock), PerCustomerLimit: ptr(limit)})
	e.Product(catalog.Product{SKU: "cap", Name: "Cap", Kind: catalog.Featured, PointsPrice: 3,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(1000), PerCustomerLimit: ptr(capLimit)})
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 7})
	earned := map[string]int64{}
	for i := range customers {
		id := fmt.Sprintf("C%02d", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "90", march(1, 9))
		earned[id] = e.Points(id).Available
		if earned[id] <= 0 {
			t.Fatalf("%s earned %d points", id, earned[id])
		}
	}
	// The request for id n: its customer, product and quantity follow
	// from n, so that two requests for one id are a retry, unless other
	// says to ask one unit more (a conflict).
	request := func(n int, other bool) catalog.RedemptionInput {
		in := catalog.RedemptionInput{ID: fmt.Sprintf("id-%03d", n), CustomerID: fmt.Sprintf("C%02d", n%customers),
			SKU: "kite", Quantity: 1 + n%2}
		switch n % 3 {
		case 0:
			in.SKU = "pen"
		case 2:
			in.SKU = "cap"
		}
		if other {
			in.Quantity++
		}
		return in
	}
	type redeemed struct {
		in       catalog.RedemptionInput
		r        catalog.Redemption
		replayed bool
		err      error
	}
	type cancelled struct {
		id  string
		r   catalog.Redemption
		err error
	}
	var (
		mu      sync.Mutex
		issued  atomic.Int64 // ids sent so far
		answers []redeemed
		cancels []cancelled
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range ops {
				s := servers[r.IntN(len(servers))]
				if r.IntN(3) == 0 {
					id := fmt.Sprintf("id-%03d", r.Int64N(issued.Load()+1))
					c, err := s.CancelRedemption(e.Ctx, "", id, "changed my mind", "test")
					mu.Lock()
					cancels = append(cancels, cancelled{id, c, err})
					mu.Unlock()
					continue
				}
				ins := make([]catalog.RedemptionInput, 1+r.IntN(4))
				for i := range ins {
					// mostly a new id; one in six an id sent before
					n := issued.Add(1) - 1
					if r.IntN(6) == 0 {
						n = r.Int64N(n + 1)
					}
					ins[i] = request(int(n), r.IntN(10) == 0)
				}
				rs, replayed, errs := s.RedeemTogether(e.Ctx, ins, "test")
				mu.Lock()
				for i := range ins {
					answers = append(answers, redeemed{ins[i], rs[i], replayed[i], errs[i]})
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	type row struct {
		customer, sku string
		quantity      int
		points        int64
		entry         int64
		created       time.Time
		cancelled     bool
	}
	rows := map[string]row{}
	dbRows, err := e.Pool.Query(e.Ctx, `SELECT id, customer_id, sku, quantity, points, coalesce(entry_id, 0), created_at,
    cancelled_at IS NOT NULL AND cancel_entry_id IS NOT NULL FROM redemptions`)
	if err != nil {
		t.Fatal(err)
	}
	for dbRows.Next() {
		var (
			id string
			x  row
		)
		if err := dbRows.Scan(&id, &x.customer, &x.sku, &x.quantity, &x.points, &x.entry, &x.created, &x.cancelled); err != nil {
			t.Fatal(err)
		}
		rows[id] = x
	}
	if err := dbRows.Err(); err != nil {
		t.Fatal(err)
	}

	codes := map[fault.Code]int{}
	for _, a := range answers {
		x, ok := rows[a.in.ID]
		switch code := fault.CodeOf(a.err); {
		case a.err == nil:
			codes["made"]++
			if !ok || x.entry != a.r.EntryID || x.customer != a.r.CustomerID || x.sku != a.r.SKU ||
				x.quantity != a.r.Quantity || x.points != a.r.Points || !x.created.Equal(a.r.CreatedAt) {
				t.Errorf("%s answered %+v (replayed %v), recorded %+v", a.in.ID, a.r, a.replayed, x)
			}
			if !a.replayed && (x.quantity != a.in.Quantity || x.points != int64(a.in.Quantity)*price(a.in.SKU)) {
				t.Errorf("%s made for %+v, recorded %+v", a.in.ID, a.in, x)
			}
		case code == fault.IdempotencyConflict:
			codes[code]++
			if !ok || x.quantity == a.in.Quantity {
				t.Errorf("%s refused as a conflict, recorded %+v (%v)", a.in.ID, x, ok)
			}
		case code == fault.InsufficientPoints || code == fault.OutOfStock || code == fault.LimitReached:
			codes[code]++
		default:
			t.Errorf("%s (%+v): %v", a.in.ID, a.in, a.err)
		}
	}
	for _, c := range cancels {
		x, ok := rows[c.id]
		switch code := fault.CodeOf(c.err); {
		case c.err == nil:
			codes["cancelled"]++
			if !ok || !x.cancelled || c.r.Status != "cancelled" || c.r.Quantity != x.quantity {
				t.Errorf("cancelling %s answered %+v, recorded %+v", c.id, c.r, x)
			}
		case code == fault.NotFound, code == fault.AlreadyCancelled && ok && x.cancelled:
			// not found: the cancellation came before the redemption
			codes[code]++
		default:
			t.Errorf("cancelling %s: %v (recorded %+v, %v)", c.id, c.err, x, ok)
		}
	}
	t.Logf("answers: %v; groups fallen back: %d and %d", codes, servers[0].Stats().Fallbacks.Load(),
		servers[1].Stats().Fallbacks.Load())
	if codes["made"] == 0 || codes["cancelled"] == 0 || codes[fault.OutOfStock]+codes[fault.LimitReached] == 0 {
		t.Errorf("the race made too little happen: %v", codes)
	}

	units, caps, spent := map[string]int{}, map[string]int{}, map[string]int64{}
	taken, capsTaken := 0, 0
	for id, x := range rows {
		if x.entry == 0 {
			t.Errorf("redemption %s has no entry", id)
		}
		if x.cancelled {
			continue
		}
		spent[x.customer] += x.points
		switch x.sku {
		case "kite":
			units[x.customer] += x.quantity
			taken += x.quantity
		case "cap":
			caps[x.customer] += x.quantity
			capsTaken += x.quantity
		}
	}
	if got := e.stock(t, "kite"); got != stock-taken || got < 0 {
		t.Errorf("kite stock %d, want %d less the %d units held", got, stock, taken)
	}
	if got := e.stock(t, "cap"); got != 1000-capsTaken {
		t.Errorf("cap stock %d, want 1000 less the %d units held", got, capsTaken)
	}
	for c, n := range units {
		if n > limit {
			t.Errorf("%s holds %d kites, the limit is %d", c, n, limit)
		}
	}
	for c, n := range caps {
		if n > capLimit {
			t.Errorf("%s holds %d caps, the limit is %d", c, n, capLimit)
		}
	}
	for c, points := range earned {
		if got := e.Points(c).Balance; got != points-spent[c] {
			t.Errorf("%s holds %d points, want %d earned less %d spent", c, got, points, spent[c])
		}
	}
	var entries, cancels2 int
	e.Scan(t, `SELECT count(*) FILTER (WHERE kind = 'redemption'), count(*) FILTER (WHERE kind = 'redemption.cancelled') FROM entries`,
		&entries, &cancels2)
	made, undone := len(rows), 0
	for _, x := range rows {
		if x.cancelled {
			undone++
		}
	}
	if entries != made || cancels2 != undone {
		t.Errorf("%d redemption entries and %d cancellations, want %d and %d", entries, cancels2, made, undone)
	}
}

// price is the points price of the test's products.
func price(sku string) int64 {
	return map[string]int64{"kite": 10, "cap": 3, "pen": 7}[sku]
}
