package ledger_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// A debit, by PostMany or by Tx.Post, of an account that may not go
// negative and has lost its balance row fails, rather than recording
// postings that no balance row carries: the UPDATE finds no row, so nothing
// checks the balance, and the account ends debited below zero by its
// postings while its balance reads 0.
func TestADebitOfAnAccountWithoutItsBalanceRowFails(t *testing.T) {
	for _, how := range []string{"PostMany", "Post"} {
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
				return tx.PostMany(ctx, []ledger.EntryInput{charge}, nil, nil)
			})
			if err == nil {
				t.Error("a debit of 500.00 from an account without its balance row (100.00 deposited) was recorded")
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
