package loyalty_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/loyalty"
)

// TestAGroupLocksItsCustomersThroughTheirIndex: the group's lock, on the
// generic plan a group runs on, looks each customer and referrer up in
// customers_pkey, never by scanning the table. Ordering the ids by their
// bytes (COLLATE "C") must not carry that collation into the lookups: an
// index of the column's own collation cannot serve a comparison in
// another, and each lookup scanned every customer (7.5 ms a group with
// 10,000 customers, a third of the event path's time in the database).
func TestAGroupLocksItsCustomersThroughTheirIndex(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO customers (id, name, referred_by)
SELECT 'P' || i, 'Customer ' || i, CASE WHEN i > 1 THEN 'P' || (i / 2) END FROM generate_series(1, 5000) AS i
ORDER BY i`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE customers`); err != nil {
		t.Fatal(err)
	}
	text := testdb.GenericPlan(t, pool, loyalty.QLockGroup, []string{"P10", "P4000", "p9"})
	if strings.Contains(text, "Seq Scan on customers") || strings.Count(text, "customers_pkey") < 2 {
		t.Errorf("the group's lock does not probe customers_pkey for each lookup:\n%s", text)
	}
}
