package prepaid_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// qSpentSinceAlone is QSpentSince before fda2b00: each credit asked
// alone, nothing reversed since counted.
const qSpentSinceAlone = `SELECT a.code, pe.id, pe.kind, pe.metadata FROM postings d
JOIN accounts a ON a.id = d.account_id
JOIN postings p ON p.account_id = d.account_id AND p.id > d.id
  AND p.amount < 0 AND p.balance_after < d.amount
JOIN entries pe ON pe.id = p.entry_id AND pe.reversal_of IS NULL
WHERE d.entry_id = $1 AND a.code = ANY($2::text[]) AND d.amount > 0
  AND NOT EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = p.entry_id)
LIMIT 1`

// qSpentSinceByDefinition is QSpentSince as fda2b00 wrote it, word for
// word its definition: for each later debit, the sum of the account's
// postings up to it no longer standing (quadratic: helper-151).
const qSpentSinceByDefinition = `WITH gone AS MATERIALIZED (SELECT q.account_id, q.id, q.amount FROM postings d
    JOIN accounts a ON a.id = d.account_id
    JOIN postings q ON q.account_id = d.account_id AND q.balance_after IS NOT NULL
    JOIN entries qe ON qe.id = q.entry_id
    WHERE d.entry_id = $1 AND a.code = ANY($2::text[]) AND d.amount > 0
      AND (q.amount > 0 AND EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = q.entry_id)
        OR q.amount < 0 AND qe.reversal_of IS NOT NULL))
SELECT a.code, pe.id, pe.kind, pe.metadata FROM postings d
JOIN accounts a ON a.id = d.account_id
JOIN postings p ON p.account_id = d.account_id AND p.id > d.id
  AND p.amount < 0 AND p.balance_after IS NOT NULL
JOIN entries pe ON pe.id = p.entry_id AND pe.reversal_of IS NULL
WHERE d.entry_id = $1 AND a.code = ANY($2::text[]) AND d.amount > 0
  AND p.balance_after - coalesce((SELECT sum(g.amount) FROM gone g WHERE g.account_id = p.account_id AND g.id <= p.id), 0) < d.amount
  AND NOT EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = p.entry_id)
LIMIT 1`

// TestSpentSinceAnswersAsItsDefinition (helper-151's check of its fix):
// random deposits, charges, withdrawals, manual credits and debits, and
// reversals of any of them, on two customers; after each step, for every
// entry standing that credited a customer's principal or rebate,
// ledger.QSpentSince (one pass) and its definition (a sum for each later
// debit) answer alike whether it was spent since. Some of those questions
// must be answered otherwise by asking each credit alone, as before
// fda2b00, or the reversed credits were never exercised (SPENT_SEED,
// SPENT_REV and SPENT_SCALES run others: helper-151 ran 7 seeds, about
// 35,000 questions).
func TestSpentSinceAnswersAsItsDefinition(t *testing.T) {
	e := newEnv(t)
	customers := []string{"C1", "C2"}
	for _, c := range customers {
		e.Customer(c)
	}
	now := e.Clock.Now()
	r := rand.New(rand.NewPCG(uint64(envInt("SPENT_SEED", 1)), 9))
	rev, scales := envInt("SPENT_REV", 5), envInt("SPENT_SCALES", 1) // half the steps reversals and manual entries, amounts under 20.00
	var ids []struct{ kind, id string }
	var manual []int64
	compared, spent, differ := 0, 0, 0
	for step := range 300 {
		c := customers[r.IntN(2)]
		switch k := r.IntN(10); {
		case k < rev && len(ids) > 0:
			m := ids[r.IntN(len(ids))]
			_, _ = e.Prepaid.ReverseMoney(e.Ctx, m.kind, "", m.id, "x", "admin")
		case k < rev+1 && len(manual) > 0:
			_, _, _ = e.Prepaid.ReverseEntry(e.Ctx, manual[r.IntN(len(manual))], ledger.ReversalInput{Actor: "admin", Reason: "x"}, nil)
		case k < rev+2:
			acct := ledger.CustomerAccount(c, []string{"prepaid", "rebate"}[r.IntN(2)])
			amt := d(fmt.Sprintf("%d.%02d", r.IntN(300), 1+r.IntN(99)))
			if r.IntN(2) == 0 {
				amt = amt.Neg()
			}
			en, _, err := e.Prepaid.PostEntry(e.Ctx, ledger.EntryInput{Kind: "manual", Actor: "admin", Reason: "x",
				Postings: []ledger.PostingInput{{Account: acct, Amount: amt}, {Account: "platform:cash", Amount: amt.Neg()}}})
			if err == nil {
				manual = append(manual, en.ID)
			}
		default:
			kind := []string{prepaid.Deposit, prepaid.Deposit, prepaid.Charge, prepaid.Charge, prepaid.Withdrawal}[r.IntN(5)]
			amount := fmt.Sprintf("%d.%02d", 1+r.IntN([]int{20, 600, 60000}[r.IntN(scales)]), r.IntN(100))
			id := fmt.Sprint("m", step)
			in := prepaid.MoneyInput{ID: id, CustomerID: c, Amount: d(amount), OccurredAt: now}
			if kind == prepaid.Charge {
				in.ShipmentID = "S" + id
			}
			if _, err := e.Move(kind, in); err == nil {
				ids = append(ids, struct{ kind, id string }{kind, id})
			} else if fault.CodeOf(err) != fault.InsufficientFunds {
				t.Fatal(err)
			}
		}
		for _, c := range customers {
			accounts := []string{ledger.CustomerAccount(c, "prepaid"), ledger.CustomerAccount(c, "rebate")}
			rows, err := e.Pool.Query(e.Ctx, `SELECT DISTINCT p.entry_id FROM postings p JOIN accounts a ON a.id = p.account_id
JOIN entries x ON x.id = p.entry_id WHERE a.code = ANY($1) AND p.amount > 0 AND x.reversal_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM entries r WHERE r.reversal_of = x.id)`, accounts)
			if err != nil {
				t.Fatal(err)
			}
			var credits []int64
			for rows.Next() {
				var id int64
				_ = rows.Scan(&id)
				credits = append(credits, id)
			}
			rows.Close()
			for _, id := range credits {
				var n1, n2 int
				if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM (`+qSpentSinceByDefinition+`) x`, id, accounts).Scan(&n1); err != nil {
					t.Fatal(err)
				}
				if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM (`+ledger.QSpentSince+`) x`, id, accounts).Scan(&n2); err != nil {
					t.Fatal(err)
				}
				var n0 int
				if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM (`+qSpentSinceAlone+`) x`, id, accounts).Scan(&n0); err != nil {
					t.Fatal(err)
				}
				if n0 != n1 {
					differ++ // where counting the credits reversed since matters
				}
				compared++
				spent += n1
				if n1 != n2 {
					t.Fatalf("step %d: entry %d of %s: its definition says spent=%v, QSpentSince says %v", step, id, c, n1 == 1, n2 == 1)
				}
			}
		}
	}
	t.Logf("%d questions compared, %d spent, %d answered otherwise asked alone", compared, spent, differ)
	if differ == 0 || spent == 0 || spent == compared {
		t.Errorf("%d questions, %d spent, %d answered otherwise asked alone: the run proves nothing", compared, spent, differ)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
