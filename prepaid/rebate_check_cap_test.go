package prepaid_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/prepaid"
)

// The rebate check names at most 100 offending deposits, the first 100 in
// id order, however many are wrong.
func TestRebateCheckNamesAtMost100Deposits(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("recorded rebates are edited on purpose")
	e.Customer("C1")
	var want []string
	for i := 1; i <= 101; i++ {
		id := fmt.Sprintf("d%03d", i)
		e.MoneyAt(t, prepaid.Deposit, id, "C1", "1000", march(15, 11))
		if i <= 100 {
			want = append(want, "deposit:"+id)
		}
	}
	if check, err := e.rebateCheck(); err != nil || !check.Pass || len(check.Offending) != 0 {
		t.Fatalf("101 correct grants: %+v %v", check, err)
	}
	if _, err := e.Pool.Exec(e.Ctx, `UPDATE money_movements SET rebate = rebate + 1`); err != nil {
		t.Fatal(err)
	}
	check, err := e.rebateCheck()
	if err != nil {
		t.Fatal(err)
	}
	if check.Pass || !slices.Equal(check.Offending, want) {
		t.Errorf("101 mispriced grants: pass %t, %d named (%v ... %v); want fail naming d001 to d100",
			check.Pass, len(check.Offending), check.Offending[:1], check.Offending[len(check.Offending)-1:])
	}
}
