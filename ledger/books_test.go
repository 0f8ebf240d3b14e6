package ledger_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/books"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// Every test that writes ends with its books proven: the trial balance and
// the roll-forwards against the balances, and every invariant.
func init() { testdb.CheckBooks(books.Check) }

// The books check passes sound books and names what is wrong with broken
// ones: a stored balance off its postings (in the trial balance and the
// roll-forwards, at the end of the history; not at its middle, where the
// balances are read from postings), and a rebate balance the rebate report
// has no row for.
func TestBooksCheckFindsBalancesTheReportsDisagreeWith(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "the books are broken on purpose, and checked here")
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, in := range []ledger.EntryInput{
		earn("C1", "100"),
		earn("C1", "50"),
		{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-1000.00")}, {Account: "customer:C2:prepaid", Amount: d("1000.00")},
			{Account: "platform:rebate:expense", Amount: d("-20.00")}, {Account: "customer:C2:rebate", Amount: d("20.00")}}},
	} {
		in.EffectiveAt = t0.AddDate(0, 0, i)
		mustPost(t, l, in)
	}
	proof, err := books.Verify(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(proof.Problems) != 0 || !strings.Contains(proof.Summary, "split at 2026-03-02T12:00:00Z") {
		t.Fatalf("sound books: %q, %v; want no problem and a split at the middle entry", proof.Summary, proof.Problems)
	}

	for _, q := range []string{
		`UPDATE balance_buckets SET balance = balance + 7
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C1:points')`,
		`UPDATE balance_buckets SET balance = balance + 3
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C2:rebate')`,
		`WITH a AS (INSERT INTO accounts (code, asset, allow_negative) VALUES ('customer:C3:rebate', 'CNY', false) RETURNING id)
INSERT INTO balance_buckets (account_id, bucket, allow_negative, balance) SELECT id, 0, false, 5 FROM a`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	proof, err = books.Verify(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(proof.Problems, "\n")
	for _, want := range []string{
		"trial balance (all history): customer:C1:points = 150, its balance is 157",
		"trial balance (all history): customer:C2:rebate = 20, its balance is 23",
		"trial balance (all history): customer:C3:rebate = 0, its balance is 5",
		"points roll-forward [2026-03-01T12:00:00Z, 2026-03-03T12:00:00.000001Z): closing 150, the balances say 157",
		"points roll-forward [2026-03-02T12:00:00Z, 2026-03-03T12:00:00.000001Z): closing 150, the balances say 157",
		"rebate roll-forward [2026-03-01T12:00:00Z, 2026-03-03T12:00:00.000001Z): C2 opens 0 and closes 20, the balances say 0 and 23",
		"rebate roll-forward [2026-03-01T12:00:00Z, 2026-03-03T12:00:00.000001Z): C3 missing (rebate 0 to 5)",
		"invariant balances_match_postings fails: [customer:C1:points customer:C2:rebate customer:C3:rebate]",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("broken books: no %q among\n%s", want, all)
		}
	}
	if strings.Contains(all, "[2026-03-01T12:00:00Z, 2026-03-02T12:00:00Z)") {
		t.Errorf("the first half of the history, which the breakage does not reach, fails:\n%s", all)
	}
}
