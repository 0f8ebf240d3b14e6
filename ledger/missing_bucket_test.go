package ledger_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// A debit, by PostMany, PostManyAndCommit or Tx.Post, of an account that
// may not go negative and has lost its balance row fails, and records
// nothing, rather than recording postings that no balance row carries: the
// UPDATE finds no row, so nothing checks the balance, and the account ends
// debited below zero by its postings while its balance reads 0. With
// PostManyAndCommit the COMMIT rides in the debit's own round trip: the
// statement itself must fail for it to be skipped.
func TestADebitOfAnAccountWithoutItsBalanceRowFails(t *testing.T) {
	for _, how := range []string{"PostMany", "PostManyAndCommit", "Post"} {
		t.Run(how, func(t *testing.T) {
			pool := testdb.Pool(t)
			ctx := context.Background()
			l := ledger.New(pool)
			mustPost(t, l, ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
				{Account: "platform:cash", Amount: d("-100.00")},
				{Account: "customer:M1:prepaid", Amount: d("100.00")},
			}})
			if _, err := pool.Exec(ctx, `DELETE FROM balance_buckets WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:M1:prepaid')`); err != nil {
				t.Fatal(err)
			}
			charge := ledger.EntryInput{Kind: "charge", Actor: "test", Postings: []ledger.PostingInput{
				{Account: "customer:M1:prepaid", Amount: d("-500.00")},
				{Account: "platform:revenue:shipping", Amount: d("500.00")},
			}}
			err := l.InTx(ctx, func(tx *ledger.Tx) error {
				if how == "Post" {
					_, err := tx.Post(ctx, charge)
					return err
				}
				if how == "PostManyAndCommit" {
					return tx.PostManyAndCommit(ctx, []ledger.EntryInput{charge}, nil, nil)
				}
				return tx.PostMany(ctx, []ledger.EntryInput{charge}, nil, nil)
			})
			switch {
			case err == nil:
				t.Error("a debit of 500.00 from an account without its balance row (100.00 deposited) was answered recorded")
			case how != "Post" && !strings.Contains(err.Error(), "0 of the 1 balance rows of customer:M1:prepaid found"):
				t.Errorf("the debit failed with %v, want the balance row not found", err)
			}
			var postings int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.code = 'customer:M1:prepaid'`).Scan(&postings); err != nil {
				t.Fatal(err)
			}
			if postings != 1 {
				t.Errorf("the account has %d postings, want 1 (the deposit): the debit was recorded", postings)
			}
			// Put the row back as the postings say, for the books' check.
			if _, err := pool.Exec(ctx, `INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance)
SELECT a.id, 0, false, greatest(sum(p.amount), 0) FROM accounts a JOIN postings p ON p.account_id = a.id
WHERE a.code = 'customer:M1:prepaid' GROUP BY a.id`); err != nil {
				t.Fatal(err)
			}
		})
	}
}
