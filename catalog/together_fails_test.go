package catalog_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
)

// TestAGroupWhoseEntriesFailPartwayIsMadeOneByOne: the database refuses
// the third redemption entry ever inserted (a trigger on entries), which
// is one of those a group made together writes in one round trip
// (ledger.Tx.PostMany): the group's transaction leaves nothing of what it
// wrote, the group is made again redemption by redemption, and its
// answers and books are those of the same group made one by one where
// nothing failed. With the refusal a serialization failure instead, the
// group's transaction is retried together, and does not fall back.
func TestAGroupWhoseEntriesFailPartwayIsMadeOneByOne(t *testing.T) {
	for _, c := range []struct {
		name      string
		errcode   string
		fallbacks int64
	}{
		{"refused", "P0001", 1},
		{"serialization failure", "40001", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			together, each := newEnv(t), newEnv(t)
			for _, e := range []*env{together, each} {
				for i, amount := range []string{"300", "2000", "9000", "40000", "120"} {
					id := fmt.Sprintf("R%d", i)
					e.Customer(id)
					e.Ship(id, "S"+id+"a", amount, time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
					e.Ship(id, "S"+id+"b", "150", march(2, 9))
				}
				e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 40})
				e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Level, PointsPrice: 90, MinLevel: ptr(10)})
				e.Product(catalog.Product{SKU: "kite", Name: "Kite", Kind: catalog.Featured, PointsPrice: 25,
					ValidFrom: ptr(march(1, 0)), ValidUntil: ptr(march(31, 0)), Stock: ptr(7), PerCustomerLimit: ptr(2)})
			}
			if _, err := together.Pool.Exec(together.Ctx, `CREATE SEQUENCE redemption_entries;
CREATE FUNCTION refuse_third() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('redemption_entries') = 3 THEN
        RAISE EXCEPTION 'the third redemption entry' USING ERRCODE = '`+c.errcode+`';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_third AFTER INSERT ON entries FOR EACH ROW WHEN (NEW.kind = 'redemption')
    EXECUTE FUNCTION refuse_third()`); err != nil {
				t.Fatal(err)
			}
			ins := randomRedemptions(rand.New(rand.NewPCG(5, 11)), 0, 30)
			a := together.answers(together.Catalog.RedeemGroup(together.Ctx, ins, "test", false))
			b := each.answers(each.Catalog.RedeemGroup(each.Ctx, ins, "test", true))
			made := 0
			for i := range a {
				if a[i] != b[i] {
					t.Errorf("%s: together\n  %s\neach\n  %s", ins[i].ID, a[i], b[i])
				}
				if b[i][0] == '{' {
					made++
				}
			}
			if made < 3 {
				t.Fatalf("%d redemptions made: the third entry was never refused", made)
			}
			var fired int64
			together.Scan(t, `SELECT last_value FROM redemption_entries`, &fired)
			if fired < 3 {
				t.Errorf("the trigger saw %d redemption entries, want the third refused", fired)
			}
			if n := together.Catalog.Stats().Fallbacks.Load(); n != c.fallbacks {
				t.Errorf("%d groups fell back, want %d", n, c.fallbacks)
			}
			if diff := servicetest.DiffLines(together.redemptionBooks(t), each.redemptionBooks(t)); diff != "" {
				t.Errorf("the books differ (+ together, - each):\n%s", diff)
			}
		})
	}
}
