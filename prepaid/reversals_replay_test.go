package prepaid_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/rules"
)

// replayedMove is a movement of TestReversalsLeaveWhatTheMovementsLeftStanding.
type replayedMove struct {
	kind, id string
	amount   decimal.Decimal
	reversed bool
}

func (m replayedMove) String() string {
	if m.reversed {
		return m.kind + " " + m.amount.String() + " (reversed)"
	}
	return m.kind + " " + m.amount.String()
}

// replayStanding prices, through the rules alone, the movements not
// reversed, in order, and answers the principal and rebate they leave, or
// false when one of them would have been refused.
func replayStanding(moves []replayedMove) (principal, rebate decimal.Decimal, ok bool) {
	rs := rules.Default()
	for _, m := range moves {
		if m.reversed {
			continue
		}
		switch m.kind {
		case prepaid.Deposit:
			_, r := rs.Rebate(m.amount)
			principal, rebate = principal.Add(m.amount), rebate.Add(r)
		case prepaid.Charge: // principal first, then rebate
			if m.amount.GreaterThan(principal.Add(rebate)) {
				return principal, rebate, false
			}
			fromPrincipal := decimal.Min(principal, m.amount)
			principal, rebate = principal.Sub(fromPrincipal), rebate.Sub(m.amount.Sub(fromPrincipal))
		case prepaid.Withdrawal: // principal only, the rebate clawed back in proportion
			if m.amount.GreaterThan(principal) {
				return principal, rebate, false
			}
			c := rules.Clawback(rebate, principal, m.amount)
			principal, rebate = principal.Sub(m.amount), rebate.Sub(c)
		}
	}
	return principal, rebate, true
}

// TestReversalsLeaveWhatTheMovementsLeftStanding: random deposits, charges
// and withdrawals of one customer, on the rebate tiers' edges and amounts
// that round, with admin reversals of any of them between. After every
// step the customer's principal and rebate are what pricing only the
// movements not reversed gives: a reversal the service lets through never
// lets a later movement keep what it was priced on, and a charge or
// withdrawal is refused exactly when that pricing finds the money short.
// The books reconcile after each round.
func TestReversalsLeaveWhatTheMovementsLeftStanding(t *testing.T) {
	refusedReversals := []fault.Code{fault.InsufficientFunds, fault.WithdrawnSince, fault.RebateDrawnSince}
	amounts := []string{"999.99", "1000", "1234.56", "5000", "50000", "0.01", "0.12", "300", "7777.77", "12345.67"}
	reversed, refused := 0, 0
	for round := range 8 {
		seed := uint64(1000 + round)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			e := newEnv(t)
			e.Customer("C1")
			r := rand.New(rand.NewPCG(seed, 7))
			var moves []replayedMove
			for step := range 80 {
				e.Clock.Add(time.Second)
				if op := r.IntN(4); op == 3 && len(moves) > 0 {
					m := &moves[r.IntN(len(moves))]
					if m.reversed {
						continue
					}
					_, err := e.Prepaid.ReverseMoney(e.Ctx, m.kind, "", m.id, "a test's reversal", "admin")
					if err != nil {
						if !slices.Contains(refusedReversals, fault.CodeOf(err)) {
							t.Fatalf("step %d: reversing %s %s: %v", step, m.kind, m.id, err)
						}
						continue
					}
					m.reversed = true
					reversed++
				} else if op < 3 {
					kind := []string{prepaid.Deposit, prepaid.Charge, prepaid.Withdrawal}[op]
					move := replayedMove{kind: kind, id: fmt.Sprintf("%s-%d", kind, step),
						amount: decimal.RequireFromString(amounts[r.IntN(len(amounts))])}
					_, err := e.Move(kind, prepaid.MoneyInput{ID: move.id, CustomerID: "C1", Amount: move.amount, ShipmentID: "S1"})
					_, _, fits := replayStanding(append(slices.Clone(moves), move))
					switch {
					case err == nil && !fits:
						t.Fatalf("step %d: %s of %s made, though the money left standing is short", step, kind, move.amount)
					case err != nil && (fits || fault.CodeOf(err) != fault.InsufficientFunds):
						t.Fatalf("step %d: %s of %s refused (%v), though the money left standing covers it", step, kind, move.amount, err)
					case err != nil:
						refused++
						continue
					}
					moves = append(moves, move)
				} else {
					continue
				}
				principal, rebate, ok := replayStanding(moves)
				if !ok {
					t.Fatalf("after step %d: a reversal left movements standing that the rules would have refused: %v", step, moves)
				}
				p, err := e.Ledger.Account(e.Ctx, "customer:C1:prepaid")
				if err != nil {
					t.Fatal(err)
				}
				rb, err := e.Ledger.Account(e.Ctx, "customer:C1:rebate")
				if err != nil {
					t.Fatal(err)
				}
				if !p.Balance.Equal(principal) || !rb.Balance.Equal(rebate) {
					t.Fatalf("after step %d: principal %s and rebate %s in the books; the movements left standing give %s and %s: %v",
						step, p.Balance, rb.Balance, principal, rebate, moves)
				}
			}
			e.Reconcile()
		})
	}
	if reversed < 8 || refused < 8 {
		t.Errorf("%d reversals made and %d movements refused over the rounds: too few for the test to prove anything", reversed, refused)
	}
}
