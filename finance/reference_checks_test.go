package finance_test

import (
	"slices"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// TestReconcileNamesMovementsRedemptionsAndDrawsThatLostWhatTheyName: the
// money movements, the redemptions and the lots' draws keep no foreign
// keys (migration 0051); reconciliation stands in for them. Sound books
// pass; a movement naming a customer, or an entry, that does not exist, a
// redemption naming a product, a customer or an entry that does not exist,
// and a draw naming an entry and a lot that do not exist are each named by
// their check, and nothing else fails.
func TestReconcileNamesMovementsRedemptionsAndDrawsThatLostWhatTheyName(t *testing.T) {
	e := newEnv(t)
	testdb.SkipBooks(t, "rows beside the books are broken on purpose")
	e.Customer("C1")
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 10})
	e.Ship("C1", "S1", "1000", march(10, 9))
	d1, d2 := e.MustMoney(prepaid.Deposit, "C1", "500"), e.MustMoney(prepaid.Deposit, "C1", "600")
	var reds []catalog.Redemption
	for range 3 {
		r, err := e.Redeem("C1", "pen", 1)
		if err != nil {
			t.Fatal(err)
		}
		reds = append(reds, r)
	}
	checks := func() (bool, map[string]ledger.Check) {
		t.Helper()
		r, err := e.Finance.Reconcile(e.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]ledger.Check{}
		for _, c := range r.Checks {
			out[c.Name] = c
		}
		return r.Pass, out
	}
	names := []string{"movement_rows_intact", "redemption_rows_intact", "references_intact"}
	pass, before := checks()
	for _, name := range names {
		if c, ok := before[name]; !ok || !c.Pass {
			t.Fatalf("sound books: %s = %+v (listed: %v)", name, c, ok)
		}
	}
	if !pass {
		t.Fatalf("sound books fail: %+v", before)
	}

	var space string
	e.Scan(t, `SELECT space FROM money_movements WHERE id = '`+d1.ID+`'`, &space)
	for _, q := range []string{
		`UPDATE money_movements SET customer_id = 'NOBODY' WHERE id = '` + d1.ID + `'`,
		`UPDATE money_movements SET entry_id = 999999999 WHERE id = '` + d2.ID + `'`,
		`UPDATE redemptions SET sku = 'gone' WHERE id = '` + reds[0].ID + `'`,
		`UPDATE redemptions SET customer_id = 'NOBODY' WHERE id = '` + reds[1].ID + `'`,
		`UPDATE redemptions SET entry_id = 999999998 WHERE id = '` + reds[2].ID + `'`,
		`INSERT INTO lot_draws (entry_id, lot_id, amount) VALUES (999999997, 999999996, 1)`,
	} {
		if _, err := e.Pool.Exec(e.Ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	pass, after := checks()
	if pass {
		t.Error("reconciliation passes with broken references")
	}
	want := map[string][]string{
		"movement_rows_intact": {"deposit:" + space + ":" + d1.ID, "deposit:" + space + ":" + d2.ID},
		"redemption_rows_intact": {"redemption:" + space + ":" + reds[0].ID, "redemption:" + space + ":" + reds[1].ID,
			"redemption:" + space + ":" + reds[2].ID},
		"references_intact": {"draw:999999997:999999996"},
	}
	for name, c := range after {
		w, ok := want[name]
		if !ok {
			if !c.Pass {
				t.Errorf("%s fails: %v", name, c.Offending)
			}
			continue
		}
		got := slices.Clone(c.Offending)
		slices.Sort(got)
		slices.Sort(w)
		if c.Pass || !slices.Equal(got, w) {
			t.Errorf("%s = %+v, want %v named", name, c, w)
		}
	}
}
