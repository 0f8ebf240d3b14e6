package prepaid_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// TestTogetherEqualsEach checks the group written together (set-based,
// priced in Go against the balances the movements before leave) against
// the same group written movement by movement in savepoints: the same
// random deposits (across the rebate schedule's steps), charges and
// withdrawals (some more than the customer holds), some dated before the
// back-dating window, deposits dated back within it, of several customers, crossing two partners'
// low-balance thresholds, must give the same answers and the same books,
// notices included, entry ids and all. Each group is written together
// (no fallback), and so is a last group with retries in it (of movements
// recorded earlier, one sent again with another amount, one after a new
// movement of its customer): it answers alike too.
func TestTogetherEqualsEach(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			together, each := newEnv(t), newEnv(t)
			for _, e := range []*env{together, each} {
				for c := range 5 {
					e.Customer(fmt.Sprintf("M%d", c))
				}
				e.threshold(e.partner("P1"), "500")
				e.threshold(e.partner("P2"), "120.50")
			}
			r := rand.New(rand.NewPCG(seed, 7))
			var (
				answers     []string
				retryKinds  []string
				retryInputs []prepaid.MoneyInput
			)
			for g := range 6 {
				kinds, ins := randomMovements(r, g, together.Clock.Now(), 40)
				a := together.answers(together.Prepaid.MoveGroup(together.Ctx, kinds, ins, "test", false))
				b := each.answers(each.Prepaid.MoveGroup(each.Ctx, kinds, ins, "test", true))
				for i := range a {
					if a[i] != b[i] {
						t.Errorf("group %d, %s %s: together\n  %s\neach\n  %s", g, kinds[i], ins[i].ID, a[i], b[i])
					}
				}
				answers = append(answers, a...)
				for i := range a {
					if len(retryKinds) < 2 && !strings.HasPrefix(a[i], "refused") {
						retryKinds, retryInputs = append(retryKinds, kinds[i]), append(retryInputs, ins[i])
					}
				}
			}
			if n := together.Prepaid.Stats().Fallbacks.Load(); n != 0 {
				t.Errorf("%d groups fell back to movement by movement, want none", n)
			}
			// Retries of the first two movements recorded, beside new ones:
			// the first at the head, the second at the end after a new
			// deposit of its customer, and the first again with another
			// amount (refused).
			kinds, ins := randomMovements(r, 9, together.Clock.Now(), 3)
			other := retryInputs[0]
			other.Amount = other.Amount.Add(d("0.01"))
			second := prepaid.MoneyInput{ID: "g9-deposit", CustomerID: retryInputs[1].CustomerID, Amount: d("700")}
			kinds = slices.Concat([]string{retryKinds[0]}, kinds, []string{retryKinds[0], prepaid.Deposit, retryKinds[1]})
			ins = slices.Concat([]prepaid.MoneyInput{retryInputs[0]}, ins, []prepaid.MoneyInput{other, second, retryInputs[1]})
			a := together.answers(together.Prepaid.MoveGroup(together.Ctx, kinds, ins, "test", false))
			b := each.answers(each.Prepaid.MoveGroup(each.Ctx, kinds, ins, "test", true))
			if !slices.Equal(a, b) {
				t.Errorf("with retries: together\n  %s\neach\n  %s", strings.Join(a, "\n  "), strings.Join(b, "\n  "))
			}
			if n := together.Prepaid.Stats().Fallbacks.Load(); n != 0 {
				t.Errorf("the group with retries fell back %d times, want none", n)
			}
			replays, conflicts := 0, 0
			for _, x := range a {
				if strings.HasSuffix(x, "replayed true") {
					replays++
				}
				if strings.HasPrefix(x, "refused idempotency_conflict") {
					conflicts++
				}
			}
			if replays != 2 || conflicts != 1 {
				t.Errorf("%d replays and %d conflicts among the answers, want 2 and 1:\n  %s", replays, conflicts, strings.Join(a, "\n  "))
			}
			if diff := servicetest.DiffLines(together.moneyBooks(), each.moneyBooks()); diff != "" {
				t.Errorf("the books differ (+ together, - each):\n%s", diff)
			}
			all := strings.Join(answers, "\n")
			for _, want := range []string{`"kind":"deposit"`, `"kind":"charge"`, `"kind":"withdrawal"`, "insufficient_funds",
				"occurred_at_too_old", `"clawback":"`, `"from_rebate":"`, "held from then on"} {
				if !strings.Contains(all, want) {
					t.Errorf("no answer has %s: the movements test too little", want)
				}
			}
			if redated := together.Lines(`SELECT m.id FROM money_movements m JOIN entries e ON e.id = m.entry_id
WHERE e.effective_at <> m.occurred_at`); len(redated) == 0 {
				t.Errorf("no movement took effect after its occurred_at: the dates test too little")
			}
			if n := strings.Count(strings.Join(together.moneyBooks(), "\n"), "prepaid.low_balance"); n < 3 {
				t.Errorf("%d low-balance notices: the movements cross the thresholds too rarely", n)
			}
		})
	}
}

// randomMovements is n random movements of group g, of customers M0 to M4.
func randomMovements(r *rand.Rand, g int, now time.Time, n int) ([]string, []prepaid.MoneyInput) {
	kinds := make([]string, n)
	ins := make([]prepaid.MoneyInput, n)
	for i := range ins {
		in := prepaid.MoneyInput{ID: fmt.Sprintf("g%d-%d", g, i), CustomerID: fmt.Sprintf("M%d", r.IntN(5))}
		switch k := r.IntN(10); {
		case k < 3:
			kinds[i] = prepaid.Deposit
			in.Amount = d([]string{"50", "500", "1000.10", "3000", "12000"}[r.IntN(5)])
		case k < 8:
			kinds[i] = prepaid.Charge
			in.Amount = d(fmt.Sprintf("%d.%02d", r.IntN(900), r.IntN(100))).Add(d("0.01"))
			if r.IntN(2) == 0 {
				in.ShipmentID = fmt.Sprintf("S%d-%d", g, i)
			}
		default:
			kinds[i] = prepaid.Withdrawal
			in.Amount = d(fmt.Sprintf("%d.%02d", r.IntN(2000), r.IntN(100))).Add(d("0.01"))
		}
		switch r.IntN(8) {
		case 0:
			in.OccurredAt = now.AddDate(0, 0, -400) // before the back-dating window
		case 1:
			// Dated back: a charge or a withdrawal dated before money it
			// takes is dated from it, within the clock skew, or refused.
			in.OccurredAt = now.Add(-time.Duration(r.IntN(100)) * time.Hour)
		case 2:
			// Minutes either side of now: the skew's edge.
			in.OccurredAt = now.Add(time.Duration(r.IntN(480)-240) * time.Second)
		}
		ins[i] = in
	}
	return kinds, ins
}

// answers describes each movement's answer: the movement as JSON, whether
// it was a replay, and the error's code and message.
func (e *env) answers(moves []prepaid.MoneyMovement, replayed []bool, errs []error) []string {
	out := make([]string, len(moves))
	for i, m := range moves {
		if errs[i] != nil {
			out[i] = fmt.Sprintf("refused %s: %v", fault.CodeOf(errs[i]), errs[i])
			continue
		}
		b, err := json.Marshal(m)
		if err != nil {
			e.T.Fatal(err)
		}
		out[i] = fmt.Sprintf("%s replayed %v", b, replayed[i])
	}
	return out
}

// moneyBooks is every row the movements wrote, sorted: entries with their
// postings, movements, notifications, balances. Amounts are compared by
// value: the scale a NUMERIC keeps (500 or 500.00) is not the books'.
func (e *env) moneyBooks() []string {
	e.T.Helper()
	out := e.Lines(`
SELECT concat_ws(' ', 'entry', en.id, en.kind, en.effective_at, en.recorded_at, encode(en.request_hash, 'hex'), en.metadata::text,
    en.actor, en.rule_version) FROM entries en
UNION ALL SELECT concat_ws(' ', 'posting', p.entry_id, a.code, trim_scale(p.amount), trim_scale(p.balance_after), p.effective_at)
    FROM postings p JOIN accounts a ON a.id = p.account_id
UNION ALL SELECT concat_ws(' ', 'movement', m.kind, m.space, m.id, m.customer_id, trim_scale(m.amount), m.occurred_at, m.shipment_id,
    trim_scale(m.rate), trim_scale(m.rebate), trim_scale(m.from_principal), trim_scale(m.from_rebate), trim_scale(m.clawback), m.rule_version, encode(m.request_hash, 'hex'), m.entry_id, m.created_at)
    FROM money_movements m
UNION ALL SELECT concat_ws(' ', 'notification', n.id, n.type, n.customer_id, n.partner_id, n.occurred_at, n.payload::text, n.once_key)
    FROM notifications n
UNION ALL SELECT concat_ws(' ', 'balance', a.code, trim_scale(sum(b.balance))) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
    GROUP BY a.code`)
	slices.Sort(out)
	return out
}
