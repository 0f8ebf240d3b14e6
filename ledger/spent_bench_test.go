package ledger_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// BenchmarkSpentSinceOverALongAccount asks whether a credit of 100.00 on a
// customer's principal was spent since (the question a deposit's reversal
// asks, under the customer's lock), when after it, and after a credit of
// 10,000.00 that keeps it unspent, the account holds 2,000 credits of 1.00
// each reversed and 4,000 debits of 1.00 each followed by a credit of 1.00
// (helper-151's history). It reports milliseconds a question: one pass of
// the account's postings after the credit, where a sum of those no longer
// standing for each later debit (fda2b00) took seconds.
func BenchmarkSpentSinceOverALongAccount(b *testing.B) {
	l, pool := newLedger(b)
	ctx := context.Background()
	credit := func(amount string) int64 {
		return mustPost(b, l, ledger.EntryInput{Kind: "manual", Actor: "bench", Postings: []ledger.PostingInput{
			{Account: "customer:C1:prepaid", Amount: d(amount)}, {Account: "platform:cash", Amount: d(amount).Neg()}}}).ID
	}
	first := credit("100.00")
	credit("10000.00")
	const g, p = 2000, 4000
	if _, err := pool.Exec(ctx, `DO $$
DECLARE
  acct bigint := (SELECT id FROM accounts WHERE code = 'customer:C1:prepaid');
  ctr bigint := (SELECT id FROM accounts WHERE code = 'platform:cash');
  b numeric := (SELECT balance_after FROM postings WHERE account_id = acct ORDER BY id DESC LIMIT 1);
  d0 bigint; r0 bigint; c0 bigint; m0 bigint;
BEGIN
  INSERT INTO entries (kind, effective_at, request_hash, actor, metadata) SELECT 'manual', now(), '\x00', 'bench', '{}' FROM generate_series(1, `+strconv.Itoa(g)+`);
  d0 := currval(pg_get_serial_sequence('entries', 'id')) - `+strconv.Itoa(g)+` + 1;
  INSERT INTO entries (kind, effective_at, request_hash, actor, metadata, reversal_of)
    SELECT 'reversal', now(), '\x00', 'bench', '{}', d0 + i - 1 FROM generate_series(1, `+strconv.Itoa(g)+`) i;
  r0 := currval(pg_get_serial_sequence('entries', 'id')) - `+strconv.Itoa(g)+` + 1;
  INSERT INTO entries (kind, effective_at, request_hash, actor, metadata) SELECT 'manual', now(), '\x00', 'bench', '{}' FROM generate_series(1, `+strconv.Itoa(2*p)+`);
  c0 := currval(pg_get_serial_sequence('entries', 'id')) - `+strconv.Itoa(2*p)+` + 1;
  m0 := c0 + `+strconv.Itoa(p)+`;
  INSERT INTO postings (entry_id, account_id, asset, amount, balance_after, effective_at)
  SELECT x.entry_id, x.account_id, 'CNY', x.amount, x.balance_after, now() FROM (
    SELECT 2*i AS o, d0+i-1 AS entry_id, acct AS account_id, 1.00 AS amount, b+1 AS balance_after FROM generate_series(1, `+strconv.Itoa(g)+`) i
    UNION ALL SELECT 2*i, d0+i-1, ctr, -1.00, NULL FROM generate_series(1, `+strconv.Itoa(g)+`) i
    UNION ALL SELECT 2*i+1, r0+i-1, acct, -1.00, b FROM generate_series(1, `+strconv.Itoa(g)+`) i
    UNION ALL SELECT 2*i+1, r0+i-1, ctr, 1.00, NULL FROM generate_series(1, `+strconv.Itoa(g)+`) i
    UNION ALL SELECT 2*`+strconv.Itoa(g)+`+2*j, c0+j-1, acct, -1.00, b-1 FROM generate_series(1, `+strconv.Itoa(p)+`) j
    UNION ALL SELECT 2*`+strconv.Itoa(g)+`+2*j, c0+j-1, ctr, 1.00, NULL FROM generate_series(1, `+strconv.Itoa(p)+`) j
    UNION ALL SELECT 2*`+strconv.Itoa(g)+`+2*j+1, m0+j-1, acct, 1.00, b FROM generate_series(1, `+strconv.Itoa(p)+`) j
    UNION ALL SELECT 2*`+strconv.Itoa(g)+`+2*j+1, m0+j-1, ctr, -1.00, NULL FROM generate_series(1, `+strconv.Itoa(p)+`) j
  ) x ORDER BY x.o, x.account_id = ctr;
END $$`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE postings; ANALYZE entries`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := l.InTx(ctx, func(tx *ledger.Tx) error {
			account, debit, err := tx.SpentSince(ctx, first, []string{"customer:C1:prepaid", "customer:C1:rebate"})
			if err == nil && debit != nil {
				b.Fatalf("the credit is spent since, on %s by entry %d", account, debit.ID)
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/question")
	b.ReportMetric(0, "ns/op")
}
