package prepaid_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// TestReversalsRacingGroupsLeaveWhatTheMovementsSay: while groups of
// deposits, charges and withdrawals of six customers are written, each
// movement is reversed (ReverseMoney) by another goroutine as soon as it
// is answered: a reversal either succeeds or is refused because a later
// withdrawal was priced on it (withdrawn_since) or, a deposit, because its
// money has been spent since (insufficient_funds) or, a charge or a
// withdrawal, because a later charge drew rebate (rebate_drawn_since),
// never anything else. Then each
// customer's principal and rebate in the ledger are what the movements not
// reversed say they moved, and every reversal recorded is the movement's.
func TestReversalsRacingGroupsLeaveWhatTheMovementsSay(t *testing.T) {
	e := newEnv(t)
	const customers = 6
	for c := range customers {
		e.Customer(fmt.Sprintf("R%d", c))
		e.MustMoney(prepaid.Deposit, fmt.Sprintf("R%d", c), "3000")
	}
	at := e.Clock.Now().Add(-time.Minute)
	type done struct{ kind, id string }
	answered := make(chan done, 1000)
	var movers, reversers sync.WaitGroup
	kinds := []string{prepaid.Deposit, prepaid.Charge, prepaid.Charge, prepaid.Withdrawal}
	for w := range 12 {
		movers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for i := range 40 {
				kind := kinds[r.IntN(len(kinds))]
				in := prepaid.MoneyInput{ID: fmt.Sprintf("w%d-%d", w, i), CustomerID: fmt.Sprintf("R%d", r.IntN(customers)),
					Amount: d(fmt.Sprintf("%d.%02d", 1+r.IntN(400), r.IntN(100))), OccurredAt: at}
				var err error
				switch kind {
				case prepaid.Deposit:
					_, _, err = e.Prepaid.Deposit(e.Ctx, in, "test")
				case prepaid.Charge:
					_, _, err = e.Prepaid.Charge(e.Ctx, in, "test")
				default:
					_, _, err = e.Prepaid.Withdraw(e.Ctx, in, "test")
				}
				switch {
				case err == nil:
					if r.IntN(2) == 0 {
						answered <- done{kind, in.ID}
					}
				case fault.CodeOf(err) != fault.InsufficientFunds:
					t.Errorf("%s %s: %v", kind, in.ID, err)
				}
			}
		})
	}
	for range 6 {
		reversers.Go(func() {
			for m := range answered {
				_, err := e.Prepaid.ReverseMoney(e.Ctx, m.kind, "", m.id, "test", "test")
				refusal := fault.RebateDrawnSince
				if m.kind == prepaid.Deposit {
					refusal = fault.InsufficientFunds
				}
				if c := fault.CodeOf(err); err != nil && c != fault.WithdrawnSince && c != refusal {
					t.Errorf("reversing %s %s: %v", m.kind, m.id, err)
				}
			}
		})
	}
	movers.Wait()
	close(answered)
	reversers.Wait()

	type moved struct{ customer, principal, rebate string }
	rows, err := e.Pool.Query(e.Ctx, `SELECT customer_id,
    coalesce(sum(CASE kind WHEN 'deposit' THEN amount WHEN 'charge' THEN -from_principal ELSE -amount END), 0)::text,
    coalesce(sum(CASE kind WHEN 'deposit' THEN rebate WHEN 'charge' THEN -from_rebate ELSE -clawback END), 0)::text
FROM money_movements WHERE reversal_entry_id IS NULL GROUP BY customer_id ORDER BY customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (moved, error) {
		var m moved
		err := r.Scan(&m.customer, &m.principal, &m.rebate)
		return m, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != customers {
		t.Fatalf("movements of %d customers, want %d", len(got), customers)
	}
	for _, m := range got {
		for acct, want := range map[string]string{"prepaid": m.principal, "rebate": m.rebate} {
			var held decimal.Decimal // an account never opened holds nothing
			if a, err := e.Ledger.Account(e.Ctx, ledger.CustomerAccount(m.customer, acct)); err == nil {
				held = a.Balance
			} else if fault.CodeOf(err) != fault.NotFound {
				t.Fatal(err)
			}
			if !held.Equal(decimal.RequireFromString(want)) {
				t.Errorf("%s's %s: the ledger holds %s, the movements not reversed %s", m.customer, acct, held, want)
			}
		}
	}
	var reversed, wrong int
	e.Scan(t, `SELECT count(*), count(*) FILTER (WHERE r.reversal_of IS DISTINCT FROM m.entry_id)
FROM money_movements m JOIN entries r ON r.id = m.reversal_entry_id`, &reversed, &wrong)
	if reversed == 0 || wrong != 0 {
		t.Errorf("%d movements reversed, %d by an entry reversing another", reversed, wrong)
	}
}
