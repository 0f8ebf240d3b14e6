package catalog_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

func asJSON(t *testing.T, r catalog.Redemption) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// redeemedCount is how many redemptions of the product are recorded.
func (e *env) redeemedCount(t *testing.T, sku string) int {
	t.Helper()
	var n int
	if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM redemptions WHERE sku = $1 AND entry_id IS NOT NULL
AND cancelled_at IS NULL`, sku).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetriedRedemptionRacingItsOriginalIsMadeOnce: 30 times a redemption
// and its retry are sent at once: one is made, both answer it (one as a
// replay, same redemption); 30 times the same id is sent at once for two
// quantities: one is made, the other refused with idempotency_conflict.
func TestRetriedRedemptionRacingItsOriginalIsMadeOnce(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 1})
	e.Customer("C1")
	e.Ship("C1", "S1", "1000", march(1, 9))
	twice := func(a, b catalog.RedemptionInput) (rs [2]catalog.Redemption, re [2]bool, errs [2]error) {
		var wg sync.WaitGroup
		for i, in := range []catalog.RedemptionInput{a, b} {
			wg.Go(func() { rs[i], re[i], errs[i] = e.Catalog.Redeem(e.Ctx, in, "test") })
		}
		wg.Wait()
		return
	}
	for r := range 30 {
		in := catalog.RedemptionInput{ID: fmt.Sprintf("twin-%d", r), CustomerID: "C1", SKU: "pen", Quantity: 1}
		rs, re, errs := twice(in, in)
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v / %v", r, errs[0], errs[1])
		}
		if re[0] == re[1] {
			t.Errorf("round %d: replayed %v and %v, want exactly one replay", r, re[0], re[1])
		}
		if a, b := asJSON(t, rs[0]), asJSON(t, rs[1]); a != b {
			t.Errorf("round %d: the original and its retry answered differently:\n%s\n%s", r, a, b)
		}
		b := in
		b.ID = fmt.Sprintf("other-%d", r)
		c := b
		c.Quantity = 2
		_, _, errs = twice(b, c)
		ok, conflict := 0, 0
		for _, err := range errs {
			switch fault.CodeOf(err) {
			case "":
				ok++
			case fault.IdempotencyConflict:
				conflict++
			default:
				t.Errorf("round %d: %v", r, err)
			}
		}
		if ok != 1 || conflict != 1 {
			t.Errorf("round %d: %d made, %d conflicts; want 1 and 1", r, ok, conflict)
		}
	}
	var rows, units int
	e.Scan(t, `SELECT count(*), coalesce(sum(quantity), 0) FROM redemptions WHERE customer_id = 'C1'`, &rows, &units)
	if rows != 60 {
		t.Errorf("%d redemptions recorded, want 60 (one per id)", rows)
	}
	// Each unit of the pen costs a point: the points spent are the units
	// recorded.
	if got := e.Points("C1").Available; got != int64(1000-units) {
		t.Errorf("%d points left, want %d (1000 less %d units)", got, 1000-units, units)
	}
}

// TestRedemptionsRacingAStockCutNeverPassIt: 48 customers with points
// redeem one unit each of a featured product with a stock of 40, in eight
// submissions of six, while the admin cuts the stock to 0 or closes the
// window as soon as one submission is answered. No redemption is made
// after the cut is committed: those recorded when UpdateProduct returns
// are all there are, and the stock stays as the cut left it.
func TestRedemptionsRacingAStockCutNeverPassIt(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "rare", Name: "Rare", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(40)})
	for i := range 48 {
		id := fmt.Sprintf("C%02d", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "100", march(1, 9))
	}
	made := 0
	for round := range 5 {
		if _, err := e.Catalog.UpdateProduct(e.Ctx, "rare", catalog.ProductPatch{Stock: ptr(40), ValidUntil: ptr(march(31, 0))}); err != nil {
			t.Fatal(err)
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			errs  []error
			once  sync.Once
			first = make(chan struct{}) // closed when a submission is answered: the others are in flight
		)
		for r := range 8 {
			wg.Go(func() {
				ins := make([]catalog.RedemptionInput, 6)
				for i := range ins {
					ins[i] = catalog.RedemptionInput{ID: fmt.Sprintf("cut-%d-%d-%d", round, r, i),
						CustomerID: fmt.Sprintf("C%02d", r*6+i), SKU: "rare", Quantity: 1}
				}
				_, _, err := e.Catalog.RedeemTogether(e.Ctx, ins, "test")
				once.Do(func() { close(first) })
				mu.Lock()
				errs = append(errs, err...)
				mu.Unlock()
			})
		}
		<-first
		// Even rounds cut the stock to 0, odd ones close the window (it ends
		// before now): either way no redemption may follow.
		cut := catalog.ProductPatch{Stock: ptr(0)}
		if round%2 == 1 {
			cut = catalog.ProductPatch{ValidUntil: ptr(march(2, 0))}
		}
		if _, err := e.Catalog.UpdateProduct(e.Ctx, "rare", cut); err != nil {
			t.Fatal(err)
		}
		stockAtCut := e.stock(t, "rare")
		atCut := e.redeemedCount(t, "rare")
		made += atCut
		wg.Wait()
		for _, err := range errs {
			if c := fault.CodeOf(err); c != "" && c != fault.OutOfStock && c != fault.OutsideWindow {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if n := e.redeemedCount(t, "rare"); n != atCut {
			t.Errorf("round %d: %d redemptions when the cut committed, %d after", round, atCut, n)
		}
		if s := e.stock(t, "rare"); s != stockAtCut {
			t.Errorf("round %d: stock %d when the cut committed, %d after", round, stockAtCut, s)
		}
	}
	if made == 0 {
		t.Errorf("no redemption made before the cuts: the cuts raced nothing")
	}
}

// TestLevelRaisedWhileRedeemingRefusesEveryoneBelowItAfter: a level
// product open to the customers' level; while 48 of them redeem it in
// eight submissions of six, the admin raises its min_level above theirs.
// No redemption of it is made after the raise is committed (the FOR SHARE
// lock of a group makes the raise wait for it), and every redemption sent
// after the raise returns is refused with not_eligible.
func TestLevelRaisedWhileRedeemingRefusesEveryoneBelowItAfter(t *testing.T) {
	e := newEnv(t)
	for i := range 48 {
		id := fmt.Sprintf("C%02d", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "1000", march(1, 9))
	}
	level := e.Profile(t, "C00").Level
	made := 0
	for round := range 5 {
		sku := fmt.Sprintf("lamp-%d", round)
		e.Product(catalog.Product{SKU: sku, Name: "Lamp", Kind: catalog.Level, PointsPrice: 1, MinLevel: ptr(level)})
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			errs  []error
			once  sync.Once
			first = make(chan struct{}) // closed when a submission is answered: the others are in flight
		)
		for r := range 24 {
			wg.Go(func() {
				ins := make([]catalog.RedemptionInput, 6)
				for i := range ins {
					ins[i] = catalog.RedemptionInput{ID: fmt.Sprintf("lvl-%d-%d-%d", round, r, i),
						CustomerID: fmt.Sprintf("C%02d", (r*6+i)%48), SKU: sku, Quantity: 1}
				}
				_, _, err := e.Catalog.RedeemTogether(e.Ctx, ins, "test")
				once.Do(func() { close(first) })
				mu.Lock()
				errs = append(errs, err...)
				mu.Unlock()
			})
		}
		<-first
		if _, err := e.Catalog.UpdateProduct(e.Ctx, sku, catalog.ProductPatch{MinLevel: ptr(level + 1)}); err != nil {
			t.Fatal(err)
		}
		atRaise := e.redeemedCount(t, sku)
		made += atRaise
		for i := range 48 {
			_, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: fmt.Sprintf("late-%d-%d", round, i),
				CustomerID: fmt.Sprintf("C%02d", i), SKU: sku, Quantity: 1}, "test")
			if fault.CodeOf(err) != fault.NotEligible {
				t.Errorf("round %d: a redemption sent after the raise: %v, want not_eligible", round, err)
			}
		}
		wg.Wait()
		for _, err := range errs {
			if c := fault.CodeOf(err); c != "" && c != fault.NotEligible {
				t.Errorf("round %d: %v", round, err)
			}
		}
		if n := e.redeemedCount(t, sku); n != atRaise {
			t.Errorf("round %d: %d redemptions when the raise committed, %d after", round, atRaise, n)
		}
	}
	if made == 0 {
		t.Errorf("no redemption made before the raises: the raises raced nothing")
	}
}

// TestMovementsRedemptionsAndShipmentsOfTheSameCustomersNeverDeadlock:
// eight customers, each referred by the one before (a shipment locks its
// customer and their referrer), and for all of them at once, from many
// goroutines and in both orders: deposits and charges, redemptions of a
// standard, a level and a featured product, and completed shipments. No
// call fails but for the refusals the rules allow; the books check ends
// the test, and no transaction was retried: none deadlocked.
func TestMovementsRedemptionsAndShipmentsOfTheSameCustomersNeverDeadlock(t *testing.T) {
	e := newEnv(t)
	const n = 8
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("K%d", i)
		if i == 0 {
			e.Customer(ids[i])
		} else {
			e.Customer(ids[i], ids[i-1])
		}
		e.Ship(ids[i], "S0"+ids[i], "500", march(1, 9))
	}
	level := e.Profile(t, "K0").Level
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 3})
	e.Product(catalog.Product{SKU: "lamp", Name: "Lamp", Kind: catalog.Level, PointsPrice: 2, MinLevel: ptr(level)})
	e.Product(catalog.Product{SKU: "rare", Name: "Rare", Kind: catalog.Featured, PointsPrice: 5,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(30)})
	order := func(g int) []string { // forwards for even g, backwards for odd
		out := make([]string, n)
		for i := range n {
			out[i] = ids[i]
			if g%2 == 1 {
				out[i] = ids[n-1-i]
			}
		}
		return out
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		bad []string
	)
	allow := func(what string, err error, ok ...fault.Code) {
		c := fault.CodeOf(err)
		if c == "" {
			return
		}
		for _, k := range ok {
			if c == k {
				return
			}
		}
		mu.Lock()
		bad = append(bad, fmt.Sprintf("%s: %v", what, err))
		mu.Unlock()
	}
	at := e.Clock.Now().Add(-time.Minute)
	retries := e.Ledger.Stats().Retries.Load()
	for g := range 12 {
		wg.Go(func() { // money, one call each: the group commit gathers them
			var calls sync.WaitGroup
			for k := range 3 {
				for _, c := range order(g) {
					dep := prepaid.MoneyInput{ID: fmt.Sprintf("d-%d-%d-%s", g, k, c), CustomerID: c, Amount: d("20"), OccurredAt: at}
					chg := prepaid.MoneyInput{ID: fmt.Sprintf("c-%d-%d-%s", g, k, c), CustomerID: c, Amount: d("25"), OccurredAt: at}
					calls.Go(func() {
						_, _, err := e.Prepaid.Deposit(e.Ctx, dep, "test")
						allow(dep.ID, err)
					})
					calls.Go(func() {
						_, _, err := e.Prepaid.Charge(e.Ctx, chg, "test")
						allow(chg.ID, err, fault.InsufficientFunds)
					})
				}
			}
			calls.Wait()
		})
		wg.Go(func() { // redemptions
			for k := range 3 {
				var ins []catalog.RedemptionInput
				for i, c := range order(g + 1) {
					sku := []string{"pen", "lamp", "rare"}[(i+k+g)%3]
					ins = append(ins, catalog.RedemptionInput{ID: fmt.Sprintf("r-%d-%d-%s", g, k, c), CustomerID: c,
						SKU: sku, Quantity: 1})
				}
				_, _, errs := e.Catalog.RedeemTogether(e.Ctx, ins, "test")
				for i, err := range errs {
					allow(ins[i].ID, err, fault.InsufficientPoints, fault.OutOfStock)
				}
			}
		})
		wg.Go(func() { // shipments
			var evs []loyalty.Event
			for k, c := range order(g) {
				evs = append(evs, e.Event(loyalty.ShipmentCompleted, c, fmt.Sprintf("S-%d-%d", g, k), "30", march(2, 9)))
			}
			for i, o := range e.ProcessBatch(e.Key, evs) {
				allow("shipment "+evs[i].ShipmentID, o.Err)
			}
		})
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	// Every writer takes customers in id order (and products after them):
	// none waits in a cycle, so no transaction was retried for a deadlock.
	if n := e.Ledger.Stats().Retries.Load() - retries; n != 0 {
		t.Errorf("%d transactions retried (deadlocks) while the writers raced", n)
	}
	if s := e.stock(t, "rare"); s != 30-e.redeemedCount(t, "rare") {
		t.Errorf("stock %d with %d redeemed of 30", s, e.redeemedCount(t, "rare"))
	}
}

// TestRedemptionPreviewsRacingRedemptionsWriteNothingAndTakeNoID: while
// 24 customers each redeem one unit of a featured product (stock 30) in
// four submissions of six, each also previews a redemption of it under an
// id of its own: the previews leave no redemption, no entry, no
// notification and no stock taken (the stock is 30 less the redemptions
// made), and each preview's id is then redeemed for real with another
// quantity, as a new redemption.
func TestRedemptionPreviewsRacingRedemptionsWriteNothingAndTakeNoID(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "rare", Name: "Rare", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(30)})
	for i := range 24 {
		id := fmt.Sprintf("C%02d", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "100", march(1, 9))
	}
	count := func() (rows, entries, notices int) {
		e.Scan(t, `SELECT (SELECT count(*) FROM redemptions), (SELECT count(*) FROM entries),
  (SELECT count(*) FROM notifications)`, &rows, &entries, &notices)
		return
	}
	r0, en0, n0 := count()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		bad []string
	)
	note := func(s string) {
		mu.Lock()
		bad = append(bad, s)
		mu.Unlock()
	}
	for r := range 4 {
		wg.Go(func() {
			ins := make([]catalog.RedemptionInput, 6)
			for i := range ins {
				ins[i] = catalog.RedemptionInput{ID: fmt.Sprintf("real-%d-%d", r, i), CustomerID: fmt.Sprintf("C%02d", r*6+i),
					SKU: "rare", Quantity: 1}
			}
			_, _, errs := e.Catalog.RedeemTogether(e.Ctx, ins, "test")
			for i, err := range errs {
				if err != nil {
					note(fmt.Sprintf("%s: %v", ins[i].ID, err))
				}
			}
		})
	}
	for i := range 24 {
		wg.Go(func() {
			_, replayed, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: fmt.Sprintf("preview-%d", i),
				CustomerID: fmt.Sprintf("C%02d", i), SKU: "rare", Quantity: 1, Preview: true}, "test")
			if err != nil || replayed {
				note(fmt.Sprintf("preview %d: replayed %v, %v", i, replayed, err))
			}
		})
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	r1, en1, n1 := count()
	if r1-r0 != 24 || en1-en0 != 24 || n1-n0 != 24 {
		t.Errorf("after 24 redemptions and 24 previews: %d redemptions, %d entries, %d notifications more; want 24 each",
			r1-r0, en1-en0, n1-n0)
	}
	if s := e.stock(t, "rare"); s != 30-24 {
		t.Errorf("stock %d after 24 redemptions of 30", s)
	}
	for i := range 3 {
		r, replayed, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: fmt.Sprintf("preview-%d", i),
			CustomerID: fmt.Sprintf("C%02d", i), SKU: "rare", Quantity: 2}, "test")
		if err != nil || replayed || r.Quantity != 2 {
			t.Errorf("redemption preview-%d after its preview: %d units, replayed %v, %v", i, r.Quantity, replayed, err)
		}
	}
}
