package prepaid_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tally-ledger/tally/prepaid"
)

// TestPreviewsRacingWithdrawalsLeaveTheBooksExact: eight withdrawals of 500
// from a deposit of 10,000 (rebate 400) race eight previews of themselves
// and eight previews of withdrawals never made. Rebate and principal stay
// in the deposit's ratio (4%), so every withdrawal, previewed or made, in
// any order, claws back 20.00; afterwards only the eight are recorded and
// announced, principal is 6,000 and rebate 240.00 (400 x 6,000 / 10,000),
// and the books reconcile.
func TestPreviewsRacingWithdrawalsLeaveTheBooksExact(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "10000")
	at := e.Clock.Now().Add(-1)
	var wg sync.WaitGroup
	for i := range 8 {
		in := prepaid.MoneyInput{ID: fmt.Sprintf("w-%d", i), CustomerID: "C1", Amount: d("500"), OccurredAt: at}
		wg.Go(func() {
			m, _, err := e.Prepaid.Withdraw(e.Ctx, in, "test")
			if err != nil || m.Clawback == nil || !m.Clawback.Equal(d("20")) {
				t.Errorf("withdrawal %s: %+v %v, want a clawback of 20.00", in.ID, m, err)
			}
		})
		for _, id := range []string{in.ID, "never-" + in.ID} {
			p := in
			p.ID, p.Preview = id, true
			wg.Go(func() {
				m, _, err := e.Prepaid.Withdraw(e.Ctx, p, "test")
				if err != nil || m.Clawback == nil || !m.Clawback.Equal(d("20")) {
					t.Errorf("preview of %s: %+v %v, want a clawback of 20.00", p.ID, m, err)
				}
			})
		}
	}
	wg.Wait()
	var movements, never, notices int
	e.Scan(t, `SELECT count(*), count(*) FILTER (WHERE id LIKE 'never-%') FROM money_movements`, &movements, &never)
	e.Scan(t, `SELECT count(*) FROM notifications WHERE type = 'withdrawal.completed'`, &notices)
	if movements != 9 || never != 0 || notices != 8 {
		t.Errorf("%d movements (%d previewed), %d withdrawals announced; want 9, 0 and 8", movements, never, notices)
	}
	b := e.Balances(t, "C1")
	if !b.Prepaid.Principal.Equal(d("6000")) || !b.Prepaid.Rebate.Equal(d("240")) {
		t.Errorf("principal %s and rebate %s, want 6000 and 240.00", b.Prepaid.Principal, b.Prepaid.Rebate)
	}
	e.Reconcile()
}
