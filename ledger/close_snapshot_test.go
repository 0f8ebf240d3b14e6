package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// TestACloseAddsWhatCommittedAfterItReadItsFigures: a close reads its
// figures with no lock held, then adds under its lock what committed since
// its snapshot. Between the two (ledger.AfterFiguresRead): an entry that
// was in flight when the figures were read commits, and entries back-dated
// into October (one for an account the figures have not seen, one that
// reverses a deposit, so that "deposit" sums to zero) and into September (no month is closed, so October's
// opening balances move) commit; an entry in November does not count.
// October's digest is then the one its figures give when rendered from the
// postings alone, its kept balances match the postings, and each line of
// the trial balance as of its end equals the postings' sum.
func TestACloseAddsWhatCommittedAfterItReadItsFigures(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	mustPost(t, l, at(earn("C1", "10"), octStart.Add(-time.Hour)))
	mustPost(t, l, at(earn("C1", "20"), octStart.Add(time.Hour)))
	mustPost(t, l, at(ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d("-8.25")}, {Account: "customer:C2:prepaid", Amount: d("8.25")}}},
		octStart.Add(2*time.Hour)))

	// In flight while the figures are read.
	posted, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- l.InTx(ctx, func(tx *ledger.Tx) error {
			if _, err := tx.Post(ctx, at(earn("C1", "5"), octStart.Add(3*time.Hour))); err != nil {
				return err
			}
			close(posted)
			<-release
			return nil
		})
	}()
	<-posted
	// A later transaction completes first, so that the snapshot lists the
	// one in flight among those it does not see (below its xmax), not
	// after them.
	mustPost(t, l, at(earn("C5", "1"), novStart.Add(time.Hour)))
	hooked := 0
	ledger.AfterFiguresRead(l, func() {
		hooked++
		close(release)
		if err := <-done; err != nil {
			t.Error(err)
		}
		mustPost(t, l, at(earn("C3", "7"), novStart.Add(-time.Second)))
		mustPost(t, l, at(earn("C2", "4"), octStart.Add(-time.Minute)))
		// The deposit taken back in the month, in its own kind (a reversal
		// made by Reverse would be dated now, in December).
		mustPost(t, l, at(ledger.EntryInput{Kind: "deposit", Actor: "test",
			Postings: []ledger.PostingInput{{Account: "platform:cash", Amount: d("8.25")}, {Account: "customer:C2:prepaid", Amount: d("-8.25")}}},
			octStart.Add(4*time.Hour)))
		mustPost(t, l, at(earn("C1", "100"), novStart))
	})
	p, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
	if err != nil {
		t.Fatal(err)
	}
	if hooked != 1 {
		t.Fatalf("the hook ran %d times, want once", hooked)
	}
	if got := l.Stats().ClosesReadUnderLock.Load(); got != 0 {
		t.Errorf("%d closes read their figures under the lock, want none", got)
	}
	figures, err := l.PeriodFigures(ctx, "2026-10", octStart, novStart)
	if err != nil {
		t.Fatal(err)
	}
	wantClosedAsPostingsSay(t, l, p)
	for _, want := range []string{
		"account customer:C1:points PTS opening 10 closing 35\n  earn 25\n",
		"account customer:C2:points PTS opening 4 closing 4\n",
		"account customer:C2:prepaid CNY opening 0.00 closing 0.00\naccount customer:C3:points",
		"account customer:C3:points PTS opening 0 closing 7\n  earn 7\n",
	} {
		if !containsLine(figures, want) {
			t.Errorf("October's figures lack\n%s\nin\n%s", want, figures)
		}
	}
	rows := map[string]string{}
	if _, err := l.TrialBalance(ctx, novStart.Add(-time.Microsecond), func(r ledger.TrialRow) error {
		rows[r.Account] = r.Balance.String()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]string{"customer:C1:points": "35", "customer:C2:points": "4", "customer:C3:points": "7", "customer:C2:prepaid": "0"} {
		if rows[code] != want {
			t.Errorf("trial balance at October's end: %s = %q, want %s", code, rows[code], want)
		}
	}
}

func containsLine(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub && (i == 0 || s[i-1] == '\n') {
			return true
		}
	}
	return false
}

// TestACloseRefusedAtFirstLookAndClosableUnderItsLockReadsItsFiguresThere:
// November's close first finds October open (out of order), so it reads no
// figures; October closes before November's close takes its lock, and
// November closes with its figures read under the lock.
func TestACloseRefusedAtFirstLookAndClosableUnderItsLockReadsItsFiguresThere(t *testing.T) {
	l := closingLedger(t)
	ctx := context.Background()
	mustPost(t, l, at(earn("C1", "10"), octStart.Add(time.Hour)))
	mustPost(t, l, at(earn("C1", "3"), novStart.Add(time.Hour)))
	if _, err := l.ClosePeriod(ctx, "2026-09", octStart.AddDate(0, -1, 0), octStart, "finance"); err != nil {
		t.Fatal(err)
	}
	ledger.AfterFiguresRead(l, func() {
		ledger.AfterFiguresRead(l, nil)
		if _, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance"); err != nil {
			t.Error(err)
		}
	})
	p, err := l.ClosePeriod(ctx, "2026-11", novStart, decStart, "finance")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Stats().ClosesReadUnderLock.Load(); got != 1 {
		t.Errorf("closes that read their figures under the lock: %d, want November's", got)
	}
	wantClosedAsPostingsSay(t, l, p)
}

// TestACloseOfBooksFromAnotherClusterCountsEachEntryOnce: entries keep the
// id of the transaction that wrote them, and books restored from a dump of
// another cluster carry ids this cluster has not reached (made here by
// moving them ahead, with the triggers off). The close's snapshot sees
// those entries but not their ids; it must not count them again as
// committed since, and still counts an entry back-dated while it reads.
// Ids far ahead: what committed since is read below them, with no lock
// held for the figures. Ids the cluster reaches while the close reads
// (transactions spent in the hook): the close reads its figures under its
// lock.
func TestACloseOfBooksFromAnotherClusterCountsEachEntryOnce(t *testing.T) {
	for _, c := range []struct {
		name               string
		ahead, spent       int
		readUnderLockCount int64
	}{
		{"ids far ahead", 100000, 0, 0},
		{"ids reached while the close reads", 20, 40, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool := testdb.Pool(t)
			l := ledger.New(pool, ledger.WithClock(func() time.Time { return inDec }))
			ctx := context.Background()
			mustPost(t, l, at(earn("C1", "10"), octStart.Add(-time.Hour)))
			mustPost(t, l, at(earn("C1", "20"), octStart.Add(time.Hour)))
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			for _, q := range []string{`SET LOCAL session_replication_role = replica`,
				fmt.Sprintf(`UPDATE entries SET xid = (pg_current_xact_id()::text::bigint + %d)::text::xid8`, c.ahead)} {
				if _, err := tx.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			ledger.AfterFiguresRead(l, func() {
				for range c.spent {
					if _, err := pool.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
						t.Error(err)
					}
				}
				mustPost(t, l, at(earn("C2", "4"), octStart.Add(2*time.Hour)))
			})
			p, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
			if err != nil {
				t.Fatal(err)
			}
			wantClosedAsPostingsSay(t, l, p)
			for code, want := range map[string]string{"customer:C1:points": "30", "customer:C2:points": "4"} {
				if b, err := l.BalanceAsOf(ctx, code, novStart); err != nil || b.String() != want {
					t.Errorf("%s's balance at October's end: %v, %v; want %s", code, b, err, want)
				}
			}
			if got := l.Stats().ClosesReadUnderLock.Load(); got != c.readUnderLockCount {
				t.Errorf("closes that read their figures under the lock: %d, want %d", got, c.readUnderLockCount)
			}
		})
	}
}

// TestACloseCorrectsOnlyTheBalancesBackDatedEntriesMoved: September is
// closed (its balances kept); October's close reads C1 moved by 5 and C2 by
// 3, then an entry back-dated into October takes C1's 5 back before the
// close takes its lock. C1 did not move in October after all: the balance
// the close kept for it is withdrawn (September's holds), C2's stays, and
// the kept balances and the digest match the postings.
func TestACloseCorrectsOnlyTheBalancesBackDatedEntriesMoved(t *testing.T) {
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return inDec }))
	ctx := context.Background()
	sepStart := octStart.AddDate(0, -1, 0)
	mustPost(t, l, at(earn("C1", "10"), sepStart.Add(time.Hour)))
	mustPost(t, l, at(earn("C2", "10"), sepStart.Add(time.Hour)))
	if _, err := l.ClosePeriod(ctx, "2026-09", sepStart, octStart, "finance"); err != nil {
		t.Fatal(err)
	}
	mustPost(t, l, at(earn("C1", "5"), octStart.Add(time.Hour)))
	mustPost(t, l, at(earn("C2", "3"), octStart.Add(time.Hour)))
	ledger.AfterFiguresRead(l, func() {
		mustPost(t, l, at(redeem("C1", "5"), octStart.Add(2*time.Hour)))
	})
	p, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
	if err != nil {
		t.Fatal(err)
	}
	wantClosedAsPostingsSay(t, l, p)
	rows, err := pool.Query(ctx, `SELECT a.code || ' ' || b.balance FROM period_balances b JOIN accounts a ON a.id = b.account_id
WHERE b.ends_at = $1 AND a.code LIKE 'customer:%' ORDER BY 1`, novStart)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"customer:C2:points 13"}; !slices.Equal(kept, want) {
		t.Errorf("customers' balances kept at October's end: %v, want %v", kept, want)
	}
}

// replica runs qs in one transaction with the triggers off, as a restore
// or a logical replica's apply writes rows.
func replica(t *testing.T, ctx context.Context, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, qs ...string) {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range append([]string{`SET LOCAL session_replication_role = replica`}, qs...) {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatal(q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestACloseCountsRestoredEntriesOnceWhereverTheirIdsFallAroundItsSnapshot:
// a transaction A is in flight when the close's snapshot S is taken (its
// id in S's in-flight list), B committed after A began (between S's xmin
// and xmax, not in flight). The restored entries take an id: A's, B's, one
// below S's xmin, or one far ahead. While the close reads, A ends and an
// entry is back-dated into October. Each entry counts once.
func TestACloseCountsRestoredEntriesOnceWhereverTheirIdsFallAroundItsSnapshot(t *testing.T) {
	for _, where := range []string{"in xip", "between xmin and xmax", "below xmin", "ahead"} {
		t.Run(where, func(t *testing.T) {
			pool := testdb.Pool(t)
			l := ledger.New(pool, ledger.WithClock(func() time.Time { return inDec }))
			ctx := context.Background()
			mustPost(t, l, at(earn("C1", "10"), octStart.Add(-time.Hour)))
			mustPost(t, l, at(earn("C1", "20"), octStart.Add(time.Hour)))
			var old uint64
			if err := pool.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&old); err != nil {
				t.Fatal(err)
			}
			a, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Rollback(ctx)
			var ax, bx uint64
			if err := a.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&ax); err != nil {
				t.Fatal(err)
			}
			if err := pool.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&bx); err != nil {
				t.Fatal(err)
			}
			var x uint64
			switch where {
			case "in xip":
				x = ax
			case "between xmin and xmax":
				x = bx
			case "below xmin":
				x = old
			case "ahead":
				x = bx + 100000
			}
			replica(t, ctx, pool, fmt.Sprintf(`UPDATE entries SET xid = '%d'`, x))
			ledger.AfterFiguresRead(l, func() {
				a.Rollback(ctx)
				mustPost(t, l, at(earn("C2", "4"), octStart.Add(2*time.Hour)))
			})
			p, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
			if err != nil {
				t.Fatal(err)
			}
			wantClosedAsPostingsSay(t, l, p)
		})
	}
}

// TestACloseCountsEntriesWithForeignIdsThatArriveWhileItReads: more
// entries with another cluster's ids arrive while the close reads (a
// logical replica's apply: rows written with the other cluster's ids,
// committed after the snapshot, before the lock), on books restored from
// that cluster (ids far ahead) or on books with none before. With what
// committed since read below the current xmax, the new entry was in
// neither read; now the close reads under its lock when entries with ids
// above all its snapshot saw have arrived, and reads what committed since
// unbounded when its snapshot saw no foreign id.
func TestACloseCountsEntriesWithForeignIdsThatArriveWhileItReads(t *testing.T) {
	for _, restored := range []bool{true, false} {
		t.Run(fmt.Sprintf("restored books %v", restored), func(t *testing.T) {
			pool := testdb.Pool(t)
			l := ledger.New(pool, ledger.WithClock(func() time.Time { return inDec }))
			ctx := context.Background()
			mustPost(t, l, at(earn("C1", "10"), octStart.Add(-time.Hour)))
			mustPost(t, l, at(earn("C1", "20"), octStart.Add(time.Hour)))
			if restored {
				replica(t, ctx, pool, `UPDATE entries SET xid = (pg_current_xact_id()::text::bigint + 100000)::text::xid8`)
			}
			ledger.AfterFiguresRead(l, func() {
				e := mustPost(t, l, at(earn("C2", "4"), octStart.Add(2*time.Hour)))
				// As the replica's apply writes it: with the other cluster's id.
				replica(t, ctx, pool, fmt.Sprintf(`UPDATE entries SET xid = (pg_current_xact_id()::text::bigint + 100050)::text::xid8 WHERE id = %d`, e.ID))
			})
			p, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance")
			if err != nil {
				t.Fatal(err)
			}
			wantClosedAsPostingsSay(t, l, p)
		})
	}
}

// TestARestoredCloseIsCorrectedByNoTransactionHere: a close restored from
// another cluster keeps the id of the transaction that made it there
// (closing_xid). A transaction here that comes to have that id (ids are
// handed out in order: anyone can spend them until theirs is next) may
// neither delete the closed month's kept balances nor change its digest:
// the close's row was not written by it (its xmin is the restore's).
func TestARestoredCloseIsCorrectedByNoTransactionHere(t *testing.T) {
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return inDec }))
	ctx := context.Background()
	mustPost(t, l, at(earn("C1", "10"), octStart.Add(time.Hour)))
	if _, err := l.ClosePeriod(ctx, "2026-10", octStart, novStart, "finance"); err != nil {
		t.Fatal(err)
	}
	// Other tests share the cluster's ids: aim a few ahead, and aim again
	// when they take the one aimed at.
	for attempt := 0; ; attempt++ {
		if attempt == 50 {
			t.Fatal("never had the restored close's transaction id in 50 attempts")
		}
		replica(t, ctx, pool, `UPDATE period_closes SET closing_xid = (pg_current_xact_id()::text::bigint + 5)::text::xid8`)
		var target uint64
		if err := pool.QueryRow(ctx, `SELECT closing_xid::text::bigint FROM period_closes`).Scan(&target); err != nil {
			t.Fatal(err)
		}
		for {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var x uint64
			if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&x); err != nil {
				t.Fatal(err)
			}
			if x != target {
				tx.Rollback(ctx)
				if x > target {
					break // taken by another session: aim again
				}
				continue
			}
			for _, q := range []string{`DELETE FROM period_balances`, `UPDATE period_closes SET digest = '\xdeadbeef'`} {
				if _, err := tx.Exec(ctx, `SAVEPOINT s`); err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, q); err == nil {
					t.Errorf("transaction %d, not October's close, was allowed: %s", x, q)
				}
				if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT s`); err != nil {
					t.Fatal(err)
				}
			}
			tx.Rollback(ctx)
			return
		}
	}
}

// wantClosedAsPostingsSay fails t unless p, just closed, has the digest
// its month's figures give when rendered from the postings alone, and the
// books reconcile (the kept balances match the postings).
func wantClosedAsPostingsSay(t *testing.T, l *ledger.Ledger, p ledger.Period) {
	t.Helper()
	ctx := context.Background()
	figures, err := l.PeriodFigures(ctx, p.Month, p.StartsAt, p.EndsAt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l.PeriodDigest(ctx, p.Month, p.StartsAt, p.EndsAt); err != nil || got != p.Digest {
		t.Fatalf("%s closed with %s; its postings give %s (%v):\n%s", p.Month, p.Digest, got, err, figures)
	}
	mustReconcile(t, l)
}
