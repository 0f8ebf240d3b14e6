package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// TestBalancesAsOfStartFromClosedMonthsAndEqualTheirPostings: months June
// to November 2026 are written and closed in order, with random entries
// (points earned and redeemed, money deposited) effective anywhere the
// books are still open, exactly on a month's first instant too, one
// account that moves in June only and one that goes back to zero in
// September; June and September are closed as a release before kept
// balances closed them (keeping none); October is reopened, written to and
// closed again. After each
// step, at every month's edges (its first instant and the one before),
// and at random instants, every account's BalanceAsOf and every row of
// TrialBalance equal the sum of the account's postings effective at or
// before the instant, read from the postings alone.
func TestBalancesAsOfStartFromClosedMonthsAndEqualTheirPostings(t *testing.T) {
	pool := testdb.Pool(t)
	now := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	r := rand.New(rand.NewPCG(45, 1))
	month := func(m int) (string, time.Time, time.Time) {
		starts := time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		return starts.Format("2006-01"), starts, starts.AddDate(0, 1, 0)
	}
	open := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // the first instant the books take
	write := func(n int) {
		for range n {
			c := fmt.Sprint("C", r.IntN(4))
			at := open.Add(time.Duration(r.Int64N(int64(now.Sub(open)))))
			if r.IntN(5) == 0 {
				at = open
			}
			var in ledger.EntryInput
			switch r.IntN(3) {
			case 0:
				in = redeem(c, "1")
				if _, _, err := l.Post(ctx, at2(in, at)); err == nil {
					continue
				}
				in = earn(c, fmt.Sprint(1+r.IntN(50)))
			case 1:
				in = earn(c, fmt.Sprint(1+r.IntN(50)))
			default:
				amount := fmt.Sprintf("%d.%02d", r.IntN(500), 1+r.IntN(99))
				in = ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
					{Account: "platform:cash", Amount: d(amount).Neg()},
					{Account: "customer:" + c + ":prepaid", Amount: d(amount)},
				}}
			}
			mustPost(t, l, at2(in, at))
		}
	}
	check := func(step string) {
		t.Helper()
		instants := []time.Time{now, time.Date(2026, 5, 31, 0, 0, 0, 0, time.UTC)}
		for m := 6; m <= 12; m++ {
			_, starts, _ := month(m)
			instants = append(instants, starts, starts.Add(-time.Microsecond))
		}
		for range 6 {
			instants = append(instants, open.Add(time.Duration(r.Int64N(int64(now.Sub(open))))))
		}
		for _, at := range instants {
			want := sums(t, pool, at)
			var got []string
			if _, err := l.TrialBalance(ctx, at, func(row ledger.TrialRow) error {
				got = append(got, row.Account+" "+row.Balance.String())
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s, trial balance as of %s:\n  %v\nthe postings say\n  %v", step, at.Format(time.RFC3339Nano), got, want)
			}
			for _, line := range want {
				var code, sum string
				fmt.Sscan(line, &code, &sum)
				b, err := l.BalanceAsOf(ctx, code, at)
				if err != nil {
					t.Fatal(err)
				}
				if b.String() != sum {
					t.Errorf("%s, %s as of %s: %s, the postings say %s", step, code, at.Format(time.RFC3339Nano), b, sum)
				}
			}
		}
	}
	closeMonth := func(m int) {
		t.Helper()
		name, starts, ends := month(m)
		p, err := l.ClosePeriod(ctx, name, starts, ends, "finance")
		if err != nil {
			t.Fatal(err)
		}
		// The close read its figures from the kept balances; the
		// digest is the postings' own.
		if digest, err := l.PeriodDigest(ctx, name, starts, ends); err != nil || digest != p.Digest {
			t.Errorf("%s closed with %s; its postings give %s (%v)", name, p.Digest, digest, err)
		}
		open = ends
	}
	// closeAsBefore closes month m as a release before 0045 did: its
	// close and its history, no balance kept.
	closeAsBefore := func(m int) {
		t.Helper()
		name, starts, ends := month(m)
		digest, err := l.PeriodDigest(ctx, name, starts, ends)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `WITH c AS (INSERT INTO period_closes (month, starts_at, ends_at, closed_at, closed_by, digest)
    VALUES ($1, $2, $3, $4, 'finance', decode($5, 'hex')) RETURNING month, closed_at, digest)
INSERT INTO period_history (month, action, actor, at, digest) SELECT month, 'close', 'finance', closed_at, digest FROM c`,
			name, starts, ends, now, digest); err != nil {
			t.Fatal(err)
		}
		open = ends
	}
	kept := func() (n int) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM period_balances`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	write(40)
	// Q's points move in June only: after it, only a kept balance of
	// every account (July's, June having kept none) holds them.
	mustPost(t, l, at2(earn("Q", "5"), time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC)))
	check("nothing closed")
	closeAsBefore(6)
	write(40)
	check("June closed, no balance kept")
	mustPost(t, l, at2(earn("Z", "10"), time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC)))
	mustPost(t, l, at2(redeem("Z", "10"), time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC)))
	for m := 7; m <= 10; m++ {
		if m == 9 {
			closeAsBefore(m) // Z's zero is kept by no one but October
		} else {
			closeMonth(m)
		}
		write(30)
		check(fmt.Sprint("closed to month ", m))
	}
	if kept() == 0 {
		t.Fatal("no balance kept by four closes")
	}
	// October reopened, written to and closed again.
	if _, err := l.ReopenPeriod(ctx, "2026-10", "finance", "a late invoice"); err != nil {
		t.Fatal(err)
	}
	open = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	check("October reopened")
	write(20)
	check("October reopened and written to")
	closeMonth(10)
	closeMonth(11)
	write(10)
	check("closed to November")
}

// at2 is in effective at t.
func at2(in ledger.EntryInput, t time.Time) ledger.EntryInput {
	in.EffectiveAt = t
	return in
}

// sums is every account's code and the sum of its postings effective at or
// before t, in code order: the books read from postings alone.
func sums(t *testing.T, pool *pgxpool.Pool, at time.Time) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT a.code, coalesce(sum(p.amount), 0)
FROM accounts a LEFT JOIN postings p ON p.account_id = a.id AND p.effective_at <= $1 GROUP BY a.code ORDER BY a.code`, at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var code string
		var sum decimal.Decimal
		err := row.Scan(&code, &sum)
		return code + " " + sum.String(), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestABalanceAsOfAfterAClosedMonthReadsOnlyThePostingsSince: an account
// with 300 postings in a closed month and 3 after it; its balance as of an
// instant after the close reads the kept balance and the 3 postings, not
// the 300.
func TestABalanceAsOfAfterAClosedMonthReadsOnlyThePostingsSince(t *testing.T) {
	pool := testdb.Pool(t)
	now := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	nov, dec := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		mustPost(t, l, at2(earn("C1", "1"), nov.Add(time.Duration(i)*time.Minute)))
	}
	if _, err := l.ClosePeriod(ctx, "2026-11", nov, dec, "finance"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		mustPost(t, l, at2(earn("C1", "10"), dec.Add(time.Duration(i)*time.Hour)))
	}
	var id int64
	if err := pool.QueryRow(ctx, `SELECT id FROM accounts WHERE code = 'customer:C1:points'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		read := func() (n int64) {
			if err := tx.QueryRow(ctx, `SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index
WHERE indrelid = 'postings'::regclass`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := read()
		var balance string
		if err := tx.QueryRow(ctx, ledger.QBalanceAsOf, id, now).Scan(&balance); err != nil {
			return err
		}
		if balance != "330" {
			t.Errorf("balance %s, want 330", balance)
		}
		if n := read() - before; n > 3 {
			t.Errorf("the balance read %d postings' index entries, want the 3 since the close", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKeptBalancesAreCheckedAndKept: a kept balance that does not equal its
// account's postings fails reconciliation (kept_balances_match_postings,
// naming the account and the month's end); a kept balance cannot be
// deleted while its month is closed, nor changed; a reopening removes it.
func TestKeptBalancesAreCheckedAndKept(t *testing.T) {
	pool := testdb.Pool(t)
	now := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	nov, dec := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	mustPost(t, l, at2(earn("C1", "10"), nov.Add(time.Hour)))
	if _, err := l.ClosePeriod(ctx, "2026-11", nov, dec, "finance"); err != nil {
		t.Fatal(err)
	}
	failing := func() []string {
		r, err := l.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Checks {
			if c.Name == "kept_balances_match_postings" {
				return c.Offending
			}
		}
		t.Fatal("no kept_balances_match_postings check")
		return nil
	}
	if got := failing(); len(got) != 0 {
		t.Fatalf("sound kept balances offend: %v", got)
	}
	// Nor may a transaction that touches November's close first (as its
	// own transaction corrects it).
	for _, q := range []string{`DELETE FROM period_balances`, `UPDATE period_balances SET balance = 1000000`,
		`UPDATE period_closes SET closed_by = closed_by; DELETE FROM period_balances`} {
		if _, err := pool.Exec(ctx, q); err == nil {
			t.Errorf("%s: allowed while November is closed", q)
		}
	}
	// A forged row at November's end, for an account opened in December.
	mustPost(t, l, at2(earn("C2", "5"), dec.Add(time.Hour)))
	tag, err := pool.Exec(ctx, `INSERT INTO period_balances (account_id, ends_at, balance)
SELECT id, $1, 1000000 FROM accounts WHERE code = 'customer:C2:points'`, dec)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("the forged row: %v, %v", tag, err)
	}
	want := []string{"customer:C2:points 2026-12-01T00:00:00.000000Z"}
	if got := failing(); !slices.Equal(got, want) {
		t.Errorf("with a forged kept balance, offending %v, want %v", got, want)
	}
	if _, err := l.ReopenPeriod(ctx, "2026-11", "finance", "a forged row"); err != nil {
		t.Fatal(err)
	}
	var kept int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM period_balances`).Scan(&kept); err != nil || kept != 0 {
		t.Errorf("%d balances kept after November was reopened (%v), want none", kept, err)
	}
	if got := failing(); len(got) != 0 {
		t.Errorf("after the reopening, offending %v", got)
	}
}

// TestATrialBalanceLineRestsOnItsOwnAccountsRows: July's kept balances
// are lost (its close deleted and inserted again, by hand, in one
// transaction), while June's and August's remain. The trial balance and
// BalanceAsOf still equal the postings' sums: an account's line starts
// from its own latest kept balance (June's, for C1), not from the latest
// month that kept any.
func TestATrialBalanceLineRestsOnItsOwnAccountsRows(t *testing.T) {
	pool := testdb.Pool(t)
	now := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	month := func(m int) time.Time { return time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC) }
	mustPost(t, l, at2(earn("C1", "10"), month(6).Add(time.Hour)))
	mustPost(t, l, at2(earn("C1", "5"), month(7).Add(time.Hour)))
	mustPost(t, l, at2(earn("C2", "1"), month(8).Add(time.Hour)))
	for m := 6; m <= 8; m++ {
		if _, err := l.ClosePeriod(ctx, month(m).Format("2006-01"), month(m), month(m+1), "finance"); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE july AS SELECT * FROM period_closes WHERE month = '2026-07'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM period_closes WHERE month = '2026-07'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO period_closes SELECT * FROM july`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var july int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM period_balances WHERE ends_at = $1`, month(8)).Scan(&july); err != nil || july != 0 {
		t.Fatalf("July keeps %d balances (%v), want none", july, err)
	}
	for _, at := range []time.Time{month(9), month(8), month(8).Add(-time.Microsecond), now} {
		want := sums(t, pool, at)
		var got []string
		if _, err := l.TrialBalance(ctx, at, func(row ledger.TrialRow) error {
			got = append(got, row.Account+" "+row.Balance.String())
			b, err := l.BalanceAsOf(ctx, row.Account, at)
			if err != nil || !b.Equal(row.Balance) {
				t.Errorf("%s as of %s: BalanceAsOf %s (%v), the trial balance %s", row.Account, at, b, err, row.Balance)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("trial balance as of %s:\n  %v\nthe postings say\n  %v", at.Format(time.RFC3339), got, want)
		}
	}
}
