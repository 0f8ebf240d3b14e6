package catalog_test

import (
	"regexp"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/testdb"
)

// A group of redemptions runs on generic plans: its read of what each
// customer redeemed of each product finds each pair's redemptions through
// redemptions_customer_sku, whatever the plan guessed of its arrays, never
// by scanning the redemptions.
func TestTheGroupsRedeemedReadProbesItsIndexOnAGenericPlan(t *testing.T) {
	pool := testdb.Pool(t)
	plan := testdb.GenericPlan(t, pool, catalog.QRedeemedByMany, []string{"C1"}, []string{"pen"})
	if !regexp.MustCompile(`Index (Only )?Scan using redemptions_customer_sku`).MatchString(plan) {
		t.Errorf("the generic plan does not probe redemptions_customer_sku:\n%s", plan)
	}
}
