package prepaid_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/rules"
)

// TestRandomMovementsAndReversalsLeaveWhatTheStandingMovementsPrice
// (helper-148's): random movements of three customers from 8 clients at
// once, dated now, back or a little ahead, with an admin's reversals
// racing them; then every invariant, the books by date (testdb's check at
// cleanup), and, customer by customer, the movements left standing
// replayed in the order they were recorded: each charge took from rebate
// what the replay takes, each withdrawal stands on the principal and
// claws back what the replay claws back. REVIEW_SEED runs one seed of
// one's own, REVIEW_MANUAL adds manual entries (and skips the replay).
// Before ledger.QSpentSince counted the entries no longer standing, the
// first seed failed 4 runs in 10 (two deposits reversed in turn under a
// charge that took part of their money together).
func TestRandomMovementsAndReversalsLeaveWhatTheStandingMovementsPrice(t *testing.T) {
	seeds := []uint64{1796680371610240428, 31, 148}
	if v, err := strconv.ParseUint(os.Getenv("REVIEW_SEED"), 10, 64); err == nil {
		seeds = []uint64{v}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomMovementsAndReversals(t, seed) })
	}
}

func randomMovementsAndReversals(t *testing.T, seed uint64) {
	e := newEnv(t)
	customers := []string{"R1", "R2", "R3"}
	for _, c := range customers {
		e.Customer(c)
	}
	now := e.Clock.Now()
	manual := os.Getenv("REVIEW_MANUAL") != ""
	var mu sync.Mutex
	var recorded []struct{ kind, id string }
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), seed))
			for i := range 60 {
				if r.IntN(4) == 0 {
					mu.Lock()
					if len(recorded) == 0 {
						mu.Unlock()
						continue
					}
					m := recorded[r.IntN(len(recorded))]
					mu.Unlock()
					_, err := e.Prepaid.ReverseMoney(e.Ctx, m.kind, "", m.id, "review", "admin")
					if err != nil && fault.CodeOf(err) == fault.Internal {
						t.Error(err)
					}
					continue
				}
				if manual && r.IntN(8) == 0 { // an admin's manual entry on the customer's principal or rebate, maybe dated back
					c := customers[r.IntN(len(customers))]
					acct := ledger.CustomerAccount(c, []string{"prepaid", "rebate"}[r.IntN(2)])
					amt := d(fmt.Sprintf("%d.%02d", r.IntN(300), 1+r.IntN(99)))
					if r.IntN(2) == 0 {
						amt = amt.Neg()
					}
					var eff time.Time
					if r.IntN(2) == 0 {
						eff = now.Add(-time.Duration(r.IntN(10*24*3600)) * time.Second)
					}
					_, _, err := e.Prepaid.PostEntry(e.Ctx, ledger.EntryInput{Kind: "manual", EffectiveAt: eff, Actor: "admin", Reason: "review",
						Postings: []ledger.PostingInput{{Account: acct, Amount: amt}, {Account: "platform:cash", Amount: amt.Neg()}}})
					if err != nil && fault.CodeOf(err) != fault.InsufficientFunds {
						t.Errorf("manual entry: %v", err)
					}
					continue
				}
				kind := []string{prepaid.Deposit, prepaid.Charge, prepaid.Charge, prepaid.Withdrawal}[r.IntN(4)]
				var amount string
				switch r.IntN(3) {
				case 0:
					amount = fmt.Sprintf("%d.%02d", r.IntN(60000), r.IntN(100))
				case 1:
					amount = fmt.Sprintf("%d.%02d", r.IntN(1200), r.IntN(100))
				default:
					amount = fmt.Sprintf("0.%02d", 1+r.IntN(99))
				}
				if amount == "0.00" {
					amount = "0.01"
				}
				var at time.Time
				switch r.IntN(4) {
				case 0:
					at = now.Add(-time.Duration(r.IntN(20*24*3600)) * time.Second)
				case 1:
					at = now.Add(time.Duration(r.IntN(240)) * time.Second)
				case 2:
					at = now.Add(-time.Duration(r.IntN(600)) * time.Second)
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				in := prepaid.MoneyInput{ID: id, CustomerID: customers[r.IntN(len(customers))], Amount: d(amount), OccurredAt: at,
					Space: ""}
				if kind == prepaid.Charge {
					in.ShipmentID = "S" + id
				}
				_, err := e.Move(kind, in)
				if err == nil {
					mu.Lock()
					recorded = append(recorded, struct{ kind, id string }{kind, id})
					mu.Unlock()
				} else if c := fault.CodeOf(err); c != fault.InsufficientFunds {
					t.Errorf("%s %s %s at %v: %v", kind, id, amount, at, err)
				}
			}
		}()
	}
	wg.Wait()
	e.Reconcile()
	// The movements left standing, replayed in the order they were
	// recorded from nothing, price as they were priced and leave what
	// the books hold.
	for _, c := range customers {
		if manual {
			break
		}
		rows, err := e.Pool.Query(e.Ctx, `SELECT kind, id, amount, coalesce(rebate, 0), coalesce(from_principal, 0),
    coalesce(from_rebate, 0), coalesce(clawback, 0) FROM money_movements
WHERE customer_id = $1 AND reversal_entry_id IS NULL ORDER BY entry_id`, c)
		if err != nil {
			t.Fatal(err)
		}
		var p, rb decimal.Decimal
		for rows.Next() {
			var kind, id string
			var a, rebate, fp, fr, claw decimal.Decimal
			if err := rows.Scan(&kind, &id, &a, &rebate, &fp, &fr, &claw); err != nil {
				t.Fatal(err)
			}
			switch kind {
			case prepaid.Deposit:
				p, rb = p.Add(a), rb.Add(rebate)
			case prepaid.Charge:
				// A charge priced principal first stands however its
				// principal came (a deposit reversed since, its money
				// replaced by a later one's: docs/RULES.md allows it); what
				// it took from rebate must be what the replay takes.
				wp := decimal.Min(a, decimal.Max(p, decimal.Zero))
				if fr.IsPositive() != a.Sub(wp).IsPositive() && p.GreaterThanOrEqual(decimal.Zero) {
					t.Errorf("%s: charge %s took %s + %s, replayed %s + %s", c, id, fp, fr, wp, a.Sub(wp))
				}
				p, rb = p.Sub(fp), rb.Sub(fr)
			case prepaid.Withdrawal:
				if a.GreaterThan(p) {
					t.Errorf("%s: withdrawal %s of %s stands on %s", c, id, a, p)
				}
				if want := rules.Clawback(rb, p, a); !want.Equal(claw) {
					t.Errorf("%s: withdrawal %s clawed back %s, replayed %s (principal %s, rebate %s)", c, id, claw, want, p, rb)
				}
				p, rb = p.Sub(a), rb.Sub(claw)
			}
		}
		rows.Close()
		if t.Failed() {
			for _, l := range e.Lines(`SELECT m.kind || ' ' || m.id || ' ' || m.amount || ' entry ' || m.entry_id || ' eff ' || e.effective_at ||
    ' occ ' || m.occurred_at || ' rev ' || coalesce(m.reversal_entry_id::text, '-') || ' fp ' || coalesce(m.from_principal::text, '') ||
    ' fr ' || coalesce(m.from_rebate::text, '') || ' rb ' || coalesce(m.rebate::text, '') || ' cl ' || coalesce(m.clawback::text, '')
FROM money_movements m JOIN entries e ON e.id = m.entry_id WHERE m.customer_id = $1 ORDER BY m.entry_id`, c) {
				t.Log(l)
			}
			for _, l := range e.Lines(`SELECT p.id || ' ' || a.code || ' ' || p.amount || ' after ' || coalesce(p.balance_after::text, '') ||
    ' entry ' || p.entry_id || ' ' || e.kind || ' eff ' || e.effective_at || ' revof ' || coalesce(e.reversal_of::text, '-')
FROM postings p JOIN accounts a ON a.id = p.account_id JOIN entries e ON e.id = p.entry_id
WHERE a.code LIKE 'customer:' || $1 || ':%' ORDER BY p.id`, c) {
				t.Log(l)
			}
		}
		b := e.Balances(t, c)
		t.Logf("%s: replayed %s / %s; books %v", c, p, rb, b)
	}
	t.Logf("%d movements recorded", len(recorded))
}
