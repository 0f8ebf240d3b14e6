package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/ledger"
)

// BenchmarkAPlatformStatementsPagesByDepth reads pages of 500 of a
// platform account with 200,000 postings (4,000 transactions of 50
// entries), at the top, at a quarter, in the middle, at three quarters
// and at the bottom of its statement, and reports milliseconds a page at
// each. A platform account keeps no balance after each posting: a page
// derives it from the postings on the side of the page with fewer
// transactions, so the middle costs most.
func BenchmarkAPlatformStatementsPagesByDepth(b *testing.B) {
	l, pool := newLedger(b)
	ctx := context.Background()
	const code, txs, per = "platform:points:earned:volume", 4000, 50
	for t := range txs {
		ins := make([]ledger.EntryInput, per)
		for i := range ins {
			n := decimal.NewFromInt(int64(1 + (t*per+i)%97))
			ins[i] = ledger.EntryInput{Kind: "earn", Actor: "bench", Postings: []ledger.PostingInput{
				{Account: code, Amount: n.Neg()},
				{Account: fmt.Sprintf("customer:B%d:points", i), Amount: n, Lot: farFuture}}}
		}
		if err := l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, ins, nil, nil) }); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE postings`); err != nil {
		b.Fatal(err)
	}
	depths := []struct {
		name  string
		above int
	}{{"top", 0}, {"quarter", txs * per / 4}, {"middle", txs * per / 2}, {"three-quarters", 3 * txs * per / 4}, {"bottom", txs*per - 500}}
	cursors := make([]int64, len(depths))
	for i, d := range depths {
		if d.above == 0 {
			continue
		}
		// A page's cursor is the entry of the posting above it, negated.
		if err := pool.QueryRow(ctx, `SELECT -p.entry_id FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.code = $1 ORDER BY p.xid DESC, p.entry_id DESC OFFSET $2 LIMIT 1`, code, d.above-1).Scan(&cursors[i]); err != nil {
			b.Fatal(err)
		}
	}
	took := make([]time.Duration, len(depths))
	b.ResetTimer()
	for range b.N {
		for i := range depths {
			start := time.Now()
			lines, _, err := l.Statement(ctx, code, cursors[i], 500)
			if err != nil || len(lines) != 500 {
				b.Fatalf("%s: %d lines, %v", depths[i].name, len(lines), err)
			}
			took[i] += time.Since(start)
		}
	}
	b.StopTimer()
	for i, d := range depths {
		b.ReportMetric(float64(took[i].Microseconds())/1000/float64(b.N), "ms/"+d.name)
	}
	b.ReportMetric(0, "ns/op")
}
