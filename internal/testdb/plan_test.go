package testdb_test

import (
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
)

// TestGenericPlanIsThePlanForAnyArguments: GenericPlan answers the plan a
// cached statement settles on, planned without its arguments: its
// conditions name the parameters ($1), never the values given, and an
// array parameter is estimated as any array (10 elements), not as the one
// passed. EXPLAIN of the query with its arguments bound is a custom plan,
// planned for those values: a plan test reading it proves nothing about
// the generic plans a group runs on.
func TestGenericPlanIsThePlanForAnyArguments(t *testing.T) {
	pool := testdb.Pool(t)
	plan := testdb.GenericPlan(t, pool, `SELECT c.relname FROM unnest($1::text[]) AS u (name)
JOIN pg_class c ON c.relname = u.name WHERE c.relkind = $2`, []string{"pg_class", "pg_proc", "pg_type"}, "r")
	if strings.Contains(plan, "'r'") || strings.Contains(plan, "pg_proc") || !strings.Contains(plan, "$2") {
		t.Errorf("the plan is planned for the arguments given, not for any:\n%s", plan)
	}
	if !strings.Contains(plan, "rows=10 ") {
		t.Errorf("the array is estimated from the one given, not as any array (10 elements):\n%s", plan)
	}
}
