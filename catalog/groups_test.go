package catalog_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestRedemptionsRacingInGroupsTakeExactlyTheStock: 48 customers, each
// holding 100 points, redeem one unit of a featured product with a stock
// of 7, in eight submissions of six customers each sent at once to the
// group commit. Exactly 7 redemptions are made and the stock ends at 0;
// the 41 others are refused with out_of_stock and leave no row (their
// claim on the id is undone with them) and no points spent. Then one
// customer sends twelve redemptions of a product limited to 3 per customer,
// in three submissions of four: exactly 3 are made, 9 refused with
// limit_reached.
func TestRedemptionsRacingInGroupsTakeExactlyTheStock(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "rare", Name: "Rare", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(7)})
	e.Product(catalog.Product{SKU: "limited", Name: "Limited", Kind: catalog.Featured, PointsPrice: 10,
		ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(100), PerCustomerLimit: ptr(3)})
	const rounds, size = 8, 6
	for i := range rounds * size {
		id := fmt.Sprintf("C%02d", i)
		e.Customer(id)
		e.Ship(id, "S"+id, "100", march(1, 9)) // 100 points
	}
	race := func(rounds, size int, in func(r, i int) catalog.RedemptionInput) []error {
		var (
			mu   sync.Mutex
			errs []error
			wg   sync.WaitGroup
		)
		for r := range rounds {
			wg.Go(func() {
				ins := make([]catalog.RedemptionInput, size)
				for i := range ins {
					ins[i] = in(r, i)
				}
				_, _, err := e.Catalog.RedeemTogether(e.Ctx, ins, "test")
				mu.Lock()
				defer mu.Unlock()
				errs = append(errs, err...)
			})
		}
		wg.Wait()
		return errs
	}
	count := func(errs []error, refusal fault.Code) (ok, refused int) {
		for _, err := range errs {
			switch fault.CodeOf(err) {
			case "":
				ok++
			case refusal:
				refused++
			default:
				t.Errorf("redeem: %v, want success or %s", err, refusal)
			}
		}
		return ok, refused
	}

	errs := race(rounds, size, func(r, i int) catalog.RedemptionInput {
		return catalog.RedemptionInput{ID: fmt.Sprintf("r-%d-%d", r, i), CustomerID: fmt.Sprintf("C%02d", r*size+i), SKU: "rare", Quantity: 1}
	})
	if ok, out := count(errs, fault.OutOfStock); ok != 7 || out != 41 {
		t.Errorf("%d redeemed, %d out of stock; want 7 and 41", ok, out)
	}
	if s := e.stock(t, "rare"); s != 0 {
		t.Errorf("rare stock %d, want 0", s)
	}
	var rows, spent int
	e.Scan(t, `SELECT count(*) FROM redemptions WHERE sku = 'rare'`, &rows)
	if rows != 7 {
		t.Errorf("%d redemptions of rare recorded, want 7", rows)
	}
	for i := range rounds * size {
		if b := e.Balances(t, fmt.Sprintf("C%02d", i)); b.Points.Balance != 100 {
			spent++
		}
	}
	if spent != 7 {
		t.Errorf("%d customers spent points, want 7", spent)
	}

	errs = race(3, 4, func(r, i int) catalog.RedemptionInput {
		return catalog.RedemptionInput{ID: fmt.Sprintf("l-%d-%d", r, i), CustomerID: "C00", SKU: "limited", Quantity: 1}
	})
	if ok, over := count(errs, fault.LimitReached); ok != 3 || over != 9 {
		t.Errorf("%d redeemed, %d over the limit; want 3 and 9", ok, over)
	}
	e.Reconcile()
}

// TestAGroupMakesTheOtherRedemptionsWhenOneIsRefused: one submission of
// six redemptions of one customer holding 100 points, made as one group in
// one transaction. Two units of a featured product with one left
// (out_of_stock), 10 pens when 70 points are left (insufficient_points) and
// an id reused with another quantity (idempotency_conflict) answer what the
// same requests answer alone on the same state (another customer's, with
// a product of its own: the names aside), and leave nothing; the
// others are made (2 pens, the last featured unit), and the repeated
// request answers the first as a replay.
func TestAGroupMakesTheOtherRedemptionsWhenOneIsRefused(t *testing.T) {
	e := newEnv(t)
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10})
	for _, c := range []string{"C1", "ALONE"} {
		e.Customer(c)
		e.Ship(c, "S"+c, "100", march(1, 9)) // 100 points
		e.Product(catalog.Product{SKU: "rare-" + c, Name: "Rare", Kind: catalog.Featured, PointsPrice: 10,
			ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(1)})
	}
	in := func(id, sku string, q int) catalog.RedemptionInput {
		return catalog.RedemptionInput{ID: id, CustomerID: "C1", SKU: sku, Quantity: q}
	}
	got, replayed, errs := e.Catalog.RedeemTogether(e.Ctx, []catalog.RedemptionInput{in("r1", "pen", 2), in("r2", "rare-C1", 2),
		in("r3", "rare-C1", 1), in("r4", "pen", 10), in("r1", "pen", 3), in("r1", "pen", 2)}, "test")

	// Alone, on the same state: 2 pens redeemed, then the same refusals.
	alone := func(id, sku string, q int) error {
		_, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: id, CustomerID: "ALONE", SKU: sku, Quantity: q}, "test")
		return err
	}
	if err := alone("a1", "pen", 2); err != nil {
		t.Fatal(err)
	}
	wantErr := map[int]error{1: alone("a2", "rare-ALONE", 2)}
	if err := alone("a3", "rare-ALONE", 1); err != nil {
		t.Fatal(err)
	}
	wantErr[3] = alone("a4", "pen", 10)
	for i, code := range map[int]fault.Code{1: fault.OutOfStock, 3: fault.InsufficientPoints, 4: fault.IdempotencyConflict} {
		servicetest.WantCode(t, errs[i], code)
		if w, ok := wantErr[i]; ok && errs[i].Error() != strings.ReplaceAll(w.Error(), "ALONE", "C1") {
			t.Errorf("redemption %d in the group: %q; alone: %q", i, errs[i], w)
		}
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil || replayed[i] || got[i].EntryID == 0 {
			t.Errorf("redemption %d: %+v replayed %v, %v; want it made", i, got[i], replayed[i], errs[i])
		}
	}
	if errs[5] != nil || !replayed[5] || got[5].EntryID != got[0].EntryID {
		t.Errorf("the repeated redemption: %+v replayed %v, %v; want a replay of entry %d", got[5], replayed[5], errs[5], got[0].EntryID)
	}
	var ids []string
	var xids int
	rows, err := e.Pool.Query(e.Ctx, `SELECT id FROM redemptions WHERE customer_id = 'C1' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if fmt.Sprint(ids) != "[r1 r3]" {
		t.Errorf("redemptions recorded %v, want [r1 r3]", ids)
	}
	e.Scan(t, `SELECT count(DISTINCT p.xid) FROM redemptions r JOIN postings p ON p.entry_id = r.entry_id
WHERE r.customer_id = 'C1'`, &xids)
	if xids != 1 {
		t.Errorf("the group was written by %d transactions, want 1", xids)
	}
	if b := e.Balances(t, "C1"); b.Points.Balance != 70 {
		t.Errorf("%d points left, want 70", b.Points.Balance)
	}
	if s := e.stock(t, "rare-C1"); s != 0 {
		t.Errorf("stock %d, want 0", s)
	}
	e.Reconcile()
}
