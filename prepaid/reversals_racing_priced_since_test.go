package prepaid_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
)

// Reversals racing groups of movements of the same few customers, amounts
// chosen so that charges often draw on rebate and withdrawals follow.
// Afterwards no reversal went through while a movement that should have
// refused it stood: a withdrawal, or (for a charge or a withdrawal) a
// charge that drew rebate, recorded after the reversed movement and before
// its reversal, and not reversed before it; nor a deposit's whose money a
// debit in between spent. (The racing test of
// reversals_racing_groups_attack_test.go checks the balances.)
func TestReversalsRacingMovementsNeverSkipAPricedSinceRefusal(t *testing.T) {
	e := newEnv(t)
	const customers = 3
	for c := range customers {
		e.Customer(fmt.Sprintf("Q%d", c))
		e.MustMoney(prepaid.Deposit, fmt.Sprintf("Q%d", c), "5000")
	}
	at := e.Clock.Now().Add(-time.Minute)
	type done struct{ kind, id string }
	answered := make(chan done, 4000)
	var movers, reversers sync.WaitGroup
	kinds := []string{prepaid.Deposit, prepaid.Charge, prepaid.Charge, prepaid.Charge, prepaid.Withdrawal}
	for w := range 8 {
		movers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 11))
			for i := range 30 {
				n := 1 + r.IntN(4)
				ks := make([]string, n)
				ins := make([]prepaid.MoneyInput, n)
				for j := range n {
					ks[j] = kinds[r.IntN(len(kinds))]
					amt := fmt.Sprintf("%d.%02d", 1+r.IntN(2000), r.IntN(100))
					if ks[j] == prepaid.Deposit {
						amt = fmt.Sprintf("%d.%02d", 900+r.IntN(6000), r.IntN(100))
					}
					ins[j] = prepaid.MoneyInput{ID: fmt.Sprintf("q%d-%d-%d", w, i, j), CustomerID: fmt.Sprintf("Q%d", r.IntN(customers)),
						Amount: d(amt), OccurredAt: at}
				}
				_, _, errs := e.Prepaid.MoveTogether(e.Ctx, ks, ins, "test")
				for j, err := range errs {
					switch {
					case err == nil:
						answered <- done{ks[j], ins[j].ID}
					case fault.CodeOf(err) != fault.InsufficientFunds:
						t.Errorf("%s %s: %v", ks[j], ins[j].ID, err)
					}
				}
			}
		})
	}
	for range 6 {
		reversers.Go(func() {
			for m := range answered {
				_, err := e.Prepaid.ReverseMoney(e.Ctx, m.kind, "", m.id, "test", "test")
				switch c := fault.CodeOf(err); {
				case err == nil, c == fault.WithdrawnSince, c == fault.RebateDrawnSince, c == fault.InsufficientFunds:
				default:
					t.Errorf("reversing %s %s: %v", m.kind, m.id, err)
				}
			}
		})
	}
	movers.Wait()
	close(answered)
	reversers.Wait()

	var reversed, bad int
	var sample *string
	e.Scan(t, `SELECT (SELECT count(*) FROM money_movements WHERE reversal_entry_id IS NOT NULL),
  count(*), min(m.kind || ' ' || m.id || ' reversed at ' || m.reversal_entry_id || ' past ' || l.kind || ' ' || l.id)
FROM money_movements m JOIN money_movements l ON l.customer_id = m.customer_id
  AND l.entry_id > m.entry_id AND l.entry_id < m.reversal_entry_id
  AND (l.reversal_entry_id IS NULL OR l.reversal_entry_id > m.reversal_entry_id)
  AND (l.kind = 'withdrawal' OR (l.kind = 'charge' AND l.from_rebate > 0 AND m.kind <> 'deposit'))
WHERE m.reversal_entry_id IS NOT NULL`, &reversed, &bad, &sample)
	t.Logf("%d reversals", reversed)
	if bad != 0 {
		t.Errorf("%d reversals went through past a movement that should have refused them, e.g. %s", bad, *sample)
	}
	// Nor a deposit's past a debit, not reversed before it and no reversal
	// itself (ledger.Tx.SpentSince), that left its account with less than
	// the deposit put on it, counted without the credits reversed before
	// the deposit's reversal (and their reversals).
	e.Scan(t, `SELECT count(*), min(m.id || ' reversed at ' || m.reversal_entry_id || ' past entry ' || p.entry_id)
FROM money_movements m
JOIN postings d ON d.entry_id = m.entry_id AND d.amount > 0
JOIN accounts a ON a.id = d.account_id AND a.code LIKE 'customer:%'
JOIN postings p ON p.account_id = d.account_id AND p.entry_id > m.entry_id AND p.entry_id < m.reversal_entry_id
  AND p.amount < 0
JOIN entries pe ON pe.id = p.entry_id AND pe.reversal_of IS NULL
WHERE m.kind = 'deposit' AND m.reversal_entry_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = p.entry_id AND r.id < m.reversal_entry_id)
  AND p.balance_after - coalesce((SELECT sum(q.amount) FROM postings q JOIN entries qe ON qe.id = q.entry_id
      WHERE q.account_id = p.account_id AND q.id <= p.id
        AND (q.amount > 0 AND EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = q.entry_id AND r.id < m.reversal_entry_id)
          OR q.amount < 0 AND qe.reversal_of IS NOT NULL AND qe.id < m.reversal_entry_id)), 0) < d.amount`, &bad, &sample)
	if bad != 0 {
		t.Errorf("%d deposits reversed past a debit that spent them, e.g. %s", bad, *sample)
	}
	e.Reconcile()
}
