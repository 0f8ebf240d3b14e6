package testdb_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
)

// GenericPlan shows the plan a cached statement settles on, not one made
// for the arguments: on a column where one value fills 99% of the table,
// the plan for that value scans the table, the generic plan (which knows
// no value) probes the index with $1. Asked twice, the plan is the same
// (the prepared statement of the first ask is gone from its connection).
func TestGenericPlanIsThePlanOfNoValue(t *testing.T) {
	pool := testdb.Pool(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE skewed (x integer, pad text);
INSERT INTO skewed SELECT CASE WHEN i <= 99000 THEN 1 ELSE i END, 'pad' FROM generate_series(1, 100000) AS i;
CREATE INDEX skewed_x ON skewed (x);
ANALYZE skewed`); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		plan := testdb.GenericPlan(t, pool, `SELECT * FROM skewed WHERE x = $1`, 1)
		if !strings.Contains(plan, "Index Cond: (x = $1)") {
			t.Errorf("the generic plan does not probe skewed_x with $1:\n%s", plan)
		}
	}
}
