package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// BenchmarkBalanceAsOf reads the balance of a customer account with
// 100,000 postings spread over June to November 2026, as of 15 November,
// and the trial balance as of the same instant: with June to October
// closed and their balances kept ("kept"), and with them reopened, so that
// no balance is kept ("none": as before period_balances, every posting up
// to the instant is summed).
func BenchmarkBalanceAsOf(b *testing.B) {
	pool := testdb.Pool(b)
	now := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	from := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	const entries, perTx = 100_000, 2_000
	step := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Sub(from) / entries
	for n := 0; n < entries; n += perTx {
		ins := make([]ledger.EntryInput, perTx)
		for i := range ins {
			ins[i] = at2(earn("B", "1"), from.Add(time.Duration(n+i)*step))
		}
		if err := l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, ins, nil, nil) }); err != nil {
			b.Fatal(err)
		}
	}
	for m := 6; m <= 10; m++ {
		starts := time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		if _, err := l.ClosePeriod(ctx, starts.Format("2006-01"), starts, starts.AddDate(0, 1, 0), "finance"); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	asOf := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	run := func(b *testing.B) {
		b.Run("balance", func(b *testing.B) {
			for b.Loop() {
				if _, err := l.BalanceAsOf(ctx, "customer:B:points", asOf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("trial-balance", func(b *testing.B) {
			for b.Loop() {
				if _, err := l.TrialBalance(ctx, asOf, func(ledger.TrialRow) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("kept", run)
	for m := 10; m >= 6; m-- { // reopened: no balance kept, as before 0045
		if _, err := l.ReopenPeriod(ctx, time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC).Format("2006-01"), "finance", "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("none", run)
}
