package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/pgarray"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

func newLedger(t testing.TB) (*ledger.Ledger, *pgxpool.Pool) {
	t.Helper()
	pool := testdb.Pool(t)
	return ledger.New(pool), pool
}

// onePool is a pool of one connection to pool's database, encoding arrays
// as the service's pools do, its configuration changed by set (when not
// nil); closed when the test ends.
func onePool(t testing.TB, pool *pgxpool.Pool, set func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error { pgarray.Register(c.TypeMap()); return nil }
	if set != nil {
		set(cfg)
	}
	one, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(one.Close)
	return one
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// farFuture is the expiry of points in tests that are not about expiry.
var farFuture = &ledger.Lot{ExpiresAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}

// earn is an entry crediting a customer's points from the volume channel.
func earn(customer string, points string) ledger.EntryInput {
	return ledger.EntryInput{Kind: "earn", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:points:earned:volume", Amount: d(points).Neg()},
		{Account: "customer:" + customer + ":points", Amount: d(points), Lot: farFuture},
	}}
}

func redeem(customer string, points string) ledger.EntryInput {
	return ledger.EntryInput{Kind: "redeem", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "customer:" + customer + ":points", Amount: d(points).Neg()},
		{Account: "platform:points:redeemed", Amount: d(points)},
	}}
}

func mustPost(t testing.TB, l *ledger.Ledger, in ledger.EntryInput) *ledger.Entry {
	t.Helper()
	e, _, err := l.Post(context.Background(), in)
	if err != nil {
		t.Fatalf("post %s: %v", in.Kind, err)
	}
	return e
}

func balance(t testing.TB, l *ledger.Ledger, code string) decimal.Decimal {
	t.Helper()
	a, err := l.Account(context.Background(), code)
	if err != nil {
		t.Fatalf("account %s: %v", code, err)
	}
	return a.Balance
}

func wantBalance(t testing.TB, l *ledger.Ledger, code, want string) {
	t.Helper()
	if got := balance(t, l, code); !got.Equal(d(want)) {
		t.Errorf("balance of %s = %s, want %s", code, got, want)
	}
}

func countRows(t testing.TB, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func wantCode(t testing.TB, err error, code fault.Code) {
	t.Helper()
	if got := fault.CodeOf(err); got != code {
		t.Fatalf("error %v: code %s, want %s", err, got, code)
	}
}

func mustReconcile(t testing.TB, l *ledger.Ledger) {
	t.Helper()
	r, err := l.Reconcile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if !c.Pass {
			t.Errorf("invariant %s fails: %v", c.Name, c.Offending)
		}
	}
}

func TestPostMovesBalancesAndRecordsPostings(t *testing.T) {
	l, _ := newLedger(t)
	e := mustPost(t, l, earn("C1", "148"))
	mustPost(t, l, redeem("C1", "48"))

	wantBalance(t, l, "customer:C1:points", "100")
	wantBalance(t, l, "platform:points:earned:volume", "-148")
	wantBalance(t, l, "platform:points:redeemed", "48")

	got, err := l.Entry(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != "earn" || len(got.Postings) != 2 || got.Actor != "test" {
		t.Fatalf("entry read back = %+v", got)
	}
	for _, p := range got.Postings {
		if p.Account == "customer:C1:points" && (p.BalanceAfter == nil || !p.BalanceAfter.Equal(d("148"))) {
			t.Errorf("customer posting balance_after = %v, want 148", p.BalanceAfter)
		}
	}
	mustReconcile(t, l)
}

func TestPostRefusesBadEntriesAndWritesNothing(t *testing.T) {
	l, pool := newLedger(t)
	cases := []struct {
		name string
		in   ledger.EntryInput
		code fault.Code
	}{
		{"Unbalanced", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-10.00")}, {Account: "customer:C1:prepaid", Amount: d("9.99")}}},
			fault.Unbalanced},
		{"UnbalancedPerAsset", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-10")}, {Account: "customer:C1:points", Amount: d("10"), Lot: farFuture}}},
			fault.Unbalanced},
		{"SinglePosting", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("1")}}}, fault.Unbalanced},
		{"TooManyDecimalsCNY", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-10.001")}, {Account: "customer:C1:prepaid", Amount: d("10.001")}}},
			fault.InvalidAmount},
		{"FractionalPoints", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:points:earned:volume", Amount: d("-1.5")}, {Account: "customer:C1:points", Amount: d("1.5"), Lot: farFuture}}},
			fault.InvalidAmount},
		{"PointsWithoutExpiry", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:points:earned:volume", Amount: d("-1")}, {Account: "customer:C1:points", Amount: d("1")}}},
			fault.Invalid},
		{"LotOnMoney", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("-1")}, {Account: "customer:C1:prepaid", Amount: d("1"), Lot: farFuture}}},
			fault.Invalid},
		{"ZeroAmount", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Amount: d("0")}, {Account: "customer:C1:prepaid", Amount: d("0")}}},
			fault.InvalidAmount},
		{"UnknownAccount", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:nowhere", Amount: d("-1")}, {Account: "customer:C1:prepaid", Amount: d("1")}}},
			fault.UnknownAccount},
		{"WrongAsset", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "platform:cash", Asset: ledger.PTS, Amount: d("-1")}, {Account: "customer:C1:prepaid", Amount: d("1")}}},
			fault.AssetMismatch},
		{"SameAccountTwice", ledger.EntryInput{Kind: "x", Actor: "t", Postings: []ledger.PostingInput{
			{Account: "customer:C1:prepaid", Amount: d("-1")}, {Account: "customer:C1:prepaid", Amount: d("1")}}},
			fault.Invalid},
		{"SameAccountTwiceInALongEntry", ledger.EntryInput{Kind: "x", Actor: "t", Postings: func() []ledger.PostingInput {
			ps := []ledger.PostingInput{{Account: "platform:cash", Amount: d("-16")}}
			for i := range 16 {
				ps = append(ps, ledger.PostingInput{Account: fmt.Sprintf("customer:C%d:prepaid", 1+i%15), Amount: d("1")})
			}
			return ps
		}()}, fault.Invalid},
		{"NegativeCustomerBalance", redeem("C1", "1"), fault.InsufficientFunds},
		{"NoKind", ledger.EntryInput{Actor: "t", Postings: earn("C1", "1").Postings}, fault.Invalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := l.Post(context.Background(), tc.in)
			wantCode(t, err, tc.code)
		})
	}
	for _, table := range []string{"entries", "postings", "balance_buckets"} {
		if n := countRows(t, pool, table); n != 0 {
			t.Errorf("%d rows in %s after refused entries, want 0", n, table)
		}
	}
}

func TestInsufficientFundsNamesTheAccountAndKeepsBalances(t *testing.T) {
	l, pool := newLedger(t)
	mustPost(t, l, earn("C1", "100"))
	entries := countRows(t, pool, "entries")
	_, _, err := l.Post(context.Background(), redeem("C1", "101"))
	wantCode(t, err, fault.InsufficientFunds)
	var e *fault.Error
	if errors.As(err, &e); e.Account != "customer:C1:points" {
		t.Errorf("error names account %q, want customer:C1:points", e.Account)
	}
	wantBalance(t, l, "customer:C1:points", "100")
	_, err = l.Account(context.Background(), "platform:points:redeemed")
	wantCode(t, err, fault.NotFound) // not even created
	if n := countRows(t, pool, "entries"); n != entries {
		t.Errorf("entries = %d after refusal, want %d", n, entries)
	}
	mustPost(t, l, redeem("C1", "100"))
	wantBalance(t, l, "customer:C1:points", "0")
}

func TestIdempotency(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	in := earn("C1", "10")
	in.IdempotencyKey = "k1"
	first, replayed, err := l.Post(ctx, in)
	if err != nil || replayed {
		t.Fatalf("first post: replayed=%v err=%v", replayed, err)
	}
	t.Run("SameRequestReplays", func(t *testing.T) {
		again, replayed, err := l.Post(ctx, in)
		if err != nil || !replayed || again.ID != first.ID {
			t.Fatalf("replay: id %v want %d, replayed=%v err=%v", again, first.ID, replayed, err)
		}
		wantBalance(t, l, "customer:C1:points", "10")
	})
	t.Run("DifferentRequestConflicts", func(t *testing.T) {
		other := earn("C1", "11")
		other.IdempotencyKey = "k1"
		_, _, err := l.Post(ctx, other)
		wantCode(t, err, fault.IdempotencyConflict)
	})
	t.Run("TenConcurrentSubmissionsMakeOneEntry", func(t *testing.T) {
		in := earn("C2", "7")
		in.IdempotencyKey = "k-concurrent"
		ids := make(chan int64, 10)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				e, _, err := l.Post(ctx, in)
				if err != nil {
					t.Errorf("concurrent post: %v", err)
					return
				}
				ids <- e.ID
			})
		}
		wg.Wait()
		close(ids)
		var first int64
		for id := range ids {
			if first == 0 {
				first = id
			}
			if id != first {
				t.Errorf("concurrent submissions answered entries %d and %d", first, id)
			}
		}
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM entries WHERE idempotency_key = 'k-concurrent'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d entries for one key, want 1", n)
		}
		wantBalance(t, l, "customer:C2:points", "7")
	})
}

func TestBalanceAsOf(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, pts := range []string{"10", "20", "30"} {
		in := earn("C1", pts)
		in.EffectiveAt = t0.Add(time.Duration(i) * 24 * time.Hour)
		mustPost(t, l, in)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{t0.Add(-time.Second), "0"},
		{t0, "10"},
		{t0.Add(36 * time.Hour), "30"},
		{t0.Add(48 * time.Hour), "60"},
	} {
		got, err := l.BalanceAsOf(ctx, "customer:C1:points", tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(d(tc.want)) {
			t.Errorf("balance as of %s = %s, want %s", tc.at, got, tc.want)
		}
	}
	_, err := l.BalanceAsOf(ctx, "customer:nobody:points", t0)
	wantCode(t, err, fault.NotFound)
}

// TestStatementPagesAreStableUnderConcurrentInserts: writers post to the
// account from goroutines while a reader pages through its statement, and
// between pages the reader waits until more entries have committed. What
// Statement promises: no posting shows twice, pages run newest to oldest,
// and every posting committed before the first page was read shows exactly
// once (or, on a hot account, sorts above it), with its amount and balance.
// A customer's account takes its row
// lock before its posting gets an id, so its ids follow its commits: its
// pages are exactly the account as of the first page. A hot account's
// pages run in the order of its whole statement (by transaction, then id)
// and are exactly its postings up to the first page's newest in that order;
// a posting committed before the first page may sort above it, held back
// while an older transaction was in flight.
func TestStatementPagesAreStableUnderConcurrentInserts(t *testing.T) {
	const seeded, pageSize, writers = 25, 5, 4
	for _, tc := range []struct {
		code string
		sign int64
	}{{"customer:C1:points", 1}, {"platform:points:earned:volume", -1}} {
		t.Run(tc.code, func(t *testing.T) {
			l, _ := newLedger(t)
			ctx := context.Background()
			for i := 1; i <= seeded; i++ {
				mustPost(t, l, earn("C1", fmt.Sprint(i)))
			}
			var (
				mu        sync.Mutex
				committed []int64 // the writers' postings on the account, once committed
				posted    = make(chan struct{})
				stop      = make(chan struct{})
				wg        sync.WaitGroup
			)
			for w := range writers {
				wg.Go(func() {
					// Half the writers earn for C1, half for a customer of
					// their own: the hot account gets postings that no
					// customer's lock orders.
					customer := "C1"
					if w%2 == 1 {
						customer = fmt.Sprint("W", w)
					}
					for {
						e, _, err := l.Post(ctx, earn(customer, "1000"))
						if err != nil {
							t.Errorf("writer %d: %v", w, err)
							return
						}
						for _, p := range e.Postings {
							if p.Account == tc.code {
								mu.Lock()
								committed = append(committed, p.ID)
								mu.Unlock()
							}
						}
						select {
						case posted <- struct{}{}:
						case <-stop:
							return
						}
					}
				})
			}
			waitFor := func(n int) {
				for range n {
					<-posted
				}
			}
			waitFor(writers)
			mu.Lock()
			before := append([]int64(nil), committed...) // committed before the first page
			mu.Unlock()
			var (
				seen   []ledger.StatementLine
				pages  [][]ledger.StatementLine
				cursor int64
			)
			for {
				lines, next, err := l.Statement(ctx, tc.code, cursor, pageSize)
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, lines...)
				pages = append(pages, lines)
				if next == 0 {
					break
				}
				cursor = next
				waitFor(2) // more entries commit before the next page
			}
			close(stop)
			wg.Wait()

			final, next, err := l.Statement(ctx, tc.code, 0, 100000)
			if err != nil || next != 0 {
				t.Fatalf("whole statement: next %d, err %v", next, err)
			}
			byID := map[int64]ledger.StatementLine{}
			place := map[int64]int{} // a posting's place in the whole statement
			for i, line := range final {
				byID[line.PostingID] = line
				place[line.PostingID] = i
			}
			shown := map[int64]bool{}
			for i, line := range seen {
				if shown[line.PostingID] {
					t.Errorf("posting %d shown twice", line.PostingID)
				}
				shown[line.PostingID] = true
				if i > 0 && place[line.PostingID] <= place[seen[i-1].PostingID] {
					t.Errorf("line %d: posting %d after %d, not in the order of the whole statement", i, line.PostingID, seen[i-1].PostingID)
				}
				f, ok := byID[line.PostingID]
				if !ok || !f.Amount.Equal(line.Amount) || f.EntryID != line.EntryID {
					t.Errorf("line %d: %+v, the account has %+v", i, line, f)
				}
			}
			for _, id := range before {
				// A hot account's posting committed before the first page
				// may be held back by an older transaction still in flight
				// then: it sorts above the first page, never below it.
				if !shown[id] && (tc.sign == 1 || place[id] > place[seen[0].PostingID]) {
					t.Errorf("posting %d, committed before the first page, not shown", id)
				}
			}
			// The seeded earnings are the oldest postings: the i-th from
			// the end is earning i, with the sum 1..i after it.
			if len(seen) < seeded {
				t.Fatalf("statement showed %d postings, fewer than the %d seeded", len(seen), seeded)
			}
			for i := int64(1); i <= seeded; i++ {
				line := seen[len(seen)-int(i)]
				if !line.Amount.Equal(decimal.NewFromInt(tc.sign * i)) {
					t.Errorf("seeded line %d amount %s, want %d", i, line.Amount, tc.sign*i)
				}
				if want := decimal.NewFromInt(tc.sign * i * (i + 1) / 2); !line.BalanceAfter.Equal(want) {
					t.Errorf("seeded line %d balance after %s, want %s", i, line.BalanceAfter, want)
				}
			}
			// Within a page, each balance is the next (older) one plus the
			// posting's amount.
			for n, page := range pages {
				for i := 0; i+1 < len(page); i++ {
					if want := page[i+1].BalanceAfter.Add(page[i].Amount); !page[i].BalanceAfter.Equal(want) {
						t.Errorf("page %d line %d: balance after %s, the older line's %s plus %s", n, i,
							page[i].BalanceAfter, page[i+1].BalanceAfter, page[i].Amount)
					}
				}
			}
			{
				// The pages are the account as of the first page: every
				// posting up to its newest, with its balance after.
				var asOfFirst int
				for _, f := range final {
					if place[f.PostingID] >= place[seen[0].PostingID] {
						asOfFirst++
						if !shown[f.PostingID] {
							t.Errorf("posting %d, older than the first page's newest, skipped", f.PostingID)
						}
					}
					if shown[f.PostingID] && !f.BalanceAfter.Equal(byID[f.PostingID].BalanceAfter) {
						t.Errorf("posting %d balance after changed", f.PostingID)
					}
				}
				for _, line := range seen {
					if !line.BalanceAfter.Equal(byID[line.PostingID].BalanceAfter) {
						t.Errorf("posting %d shown with balance %s, stored %s", line.PostingID, line.BalanceAfter,
							byID[line.PostingID].BalanceAfter)
					}
				}
				if asOfFirst != len(seen) {
					t.Errorf("pages showed %d postings, the account had %d as of the first page", len(seen), asOfFirst)
				}
			}
			if len(final) <= len(seen) {
				t.Errorf("no entry committed while paging (%d postings shown, %d in the end)", len(seen), len(final))
			}
		})
	}
}

func TestReversal(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	e := mustPost(t, l, earn("C1", "50"))
	rev, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "ops", Reason: "posted twice"})
	if err != nil {
		t.Fatal(err)
	}
	if rev.ReversalOf == nil || *rev.ReversalOf != e.ID {
		t.Fatalf("reversal_of = %v, want %d", rev.ReversalOf, e.ID)
	}
	wantBalance(t, l, "customer:C1:points", "0")
	wantBalance(t, l, "platform:points:earned:volume", "0")
	back, err := l.Entry(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.ReversedBy == nil || *back.ReversedBy != rev.ID {
		t.Errorf("reversed_by = %v, want %d", back.ReversedBy, rev.ID)
	}

	t.Run("ReplayWithTheSameKey", func(t *testing.T) {
		e := mustPost(t, l, earn("C9", "5"))
		in := ledger.ReversalInput{IdempotencyKey: "rev-1", Actor: "ops", Reason: "dup"}
		first, _, err := l.Reverse(ctx, e.ID, in)
		if err != nil {
			t.Fatal(err)
		}
		again, replayed, err := l.Reverse(ctx, e.ID, in)
		if err != nil || !replayed || again.ID != first.ID {
			t.Errorf("replayed reversal: %v replayed=%v err=%v", again, replayed, err)
		}
	})
	t.Run("Twice", func(t *testing.T) {
		_, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "ops", Reason: "again"})
		wantCode(t, err, fault.AlreadyReversed)
	})
	t.Run("OfAReversal", func(t *testing.T) {
		_, _, err := l.Reverse(ctx, rev.ID, ledger.ReversalInput{Actor: "ops", Reason: "undo"})
		wantCode(t, err, fault.NotReversible)
	})
	t.Run("WithoutReason", func(t *testing.T) {
		_, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "ops"})
		wantCode(t, err, fault.Invalid)
	})
	t.Run("Unknown", func(t *testing.T) {
		_, _, err := l.Reverse(ctx, 999999, ledger.ReversalInput{Actor: "ops", Reason: "x"})
		wantCode(t, err, fault.NotFound)
	})
	t.Run("SpentPoints", func(t *testing.T) {
		e := mustPost(t, l, earn("C2", "30"))
		mustPost(t, l, redeem("C2", "20"))
		_, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "ops", Reason: "x"})
		wantCode(t, err, fault.InsufficientFunds)
		wantBalance(t, l, "customer:C2:points", "10")
	})
	t.Run("ConcurrentReversalsMakeOne", func(t *testing.T) {
		e := mustPost(t, l, earn("C3", "5"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 8 {
			wg.Go(func() {
				_, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "ops", Reason: "x"})
				if err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if fault.CodeOf(err) != fault.AlreadyReversed {
					t.Errorf("concurrent reversal: %v", err)
				}
			})
		}
		wg.Wait()
		if ok != 1 {
			t.Errorf("%d reversals succeeded, want 1", ok)
		}
		wantBalance(t, l, "customer:C3:points", "0")
	})
	mustReconcile(t, l)
}

// Entries, postings and accounts, the chain's links and blocks, the
// history of closes, the closes and their kept balances refuse every
// change, TRUNCATE included.
func TestEntriesAndPostingsAreAppendOnly(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "5"))
	for _, stmt := range []string{
		"UPDATE entries SET reason = 'edited'",
		"DELETE FROM entries",
		"TRUNCATE entries CASCADE",
		"UPDATE postings SET amount = amount * 2",
		"DELETE FROM postings",
		"TRUNCATE postings",
		"DELETE FROM accounts",
		"TRUNCATE accounts CASCADE",
		"TRUNCATE chain_links",
		"TRUNCATE chain_blocks",
		"TRUNCATE period_history",
		"TRUNCATE period_closes CASCADE",
		"TRUNCATE period_balances",
	} {
		_, err := pool.Exec(ctx, stmt)
		if pe := pgError(err); pe == nil || pe.Code != pgerrcode.InsufficientPrivilege {
			t.Errorf("%s: %v, want refused with insufficient_privilege (42501)", stmt, err)
		}
	}
	wantBalance(t, l, "customer:C1:points", "5")
}

// Postings and lots keep no foreign keys (they cost the event path 15%):
// reconciliation must report one that names no entry or a wrong account.
func TestReconcileFindsDanglingReferences(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "a dangling posting is inserted on purpose")
	ctx := context.Background()
	e := mustPost(t, l, earn("C1", "5"))
	mustReconcile(t, l)
	if _, err := pool.Exec(ctx, `INSERT INTO postings (entry_id, account_id, asset, amount, effective_at)
SELECT 999999999, account_id, asset, amount, effective_at FROM postings WHERE entry_id = $1`, e.ID); err != nil {
		t.Fatal(err)
	}
	r, err := l.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name == "references_intact" {
			if c.Pass || len(c.Offending) != 2 {
				t.Fatalf("references_intact = %+v, want the two dangling postings", c)
			}
			return
		}
	}
	t.Fatal("no references_intact check")
}

func TestDatabaseRefusesUnbalancedPostings(t *testing.T) {
	_, pool := newLedger(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `
WITH a AS (INSERT INTO accounts (code, asset, allow_negative) VALUES ('platform:cash', 'CNY', true) RETURNING id),
     e AS (INSERT INTO entries (kind, effective_at, request_hash, actor) VALUES ('x', now(), '', 't') RETURNING id)
INSERT INTO postings (entry_id, account_id, asset, amount, effective_at) SELECT e.id, a.id, 'CNY', 5, now() FROM a, e`)
	if !fault.CheckViolation(err, "entry_balances") {
		t.Fatalf("an unbalanced posting: %v, want refused by entry_balances (23514)", err)
	}
}

func TestReconciliationFindsTamperedBalances(t *testing.T) {
	l, pool := newLedger(t)
	testdb.SkipBooks(t, "a stored balance is tampered with on purpose")
	ctx := context.Background()
	mustPost(t, l, earn("C1", "5"))
	mustReconcile(t, l)
	if _, err := pool.Exec(ctx, `UPDATE balance_buckets SET balance = balance + 1
WHERE account_id = (SELECT id FROM accounts WHERE code = 'customer:C1:points')`); err != nil {
		t.Fatal(err)
	}
	r, err := l.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pass {
		t.Fatal("reconciliation passes on tampered books")
	}
	failed := map[string][]string{}
	for _, c := range r.Checks {
		if !c.Pass {
			failed[c.Name] = c.Offending
		}
	}
	if got := failed["balances_match_postings"]; len(got) != 1 || got[0] != "customer:C1:points" {
		t.Errorf("balances_match_postings offending = %v, want [customer:C1:points]", got)
	}
	if got := failed["assets_sum_to_zero"]; len(got) != 1 || got[0] != "PTS" {
		t.Errorf("assets_sum_to_zero offending = %v, want [PTS]", got)
	}
	if _, ok := failed["entries_balance"]; ok {
		t.Errorf("entries_balance fails, but every entry balances")
	}
}

// A reversal's metadata keeps the caller's keys beside reversed_kind, which
// a caller cannot overwrite.
func TestReversalMetadata(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	e := mustPost(t, l, earn("C1", "8"))
	rev, _, err := l.Reverse(ctx, e.ID, ledger.ReversalInput{Actor: "ops", Reason: "wrong customer",
		Metadata: map[string]any{"ticket": "T-9", "reversed_kind": "forged"}})
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(rev.Metadata, &meta); err != nil {
		t.Fatal(err)
	}
	if meta["ticket"] != "T-9" || meta["reversed_kind"] != "earn" || len(meta) != 2 {
		t.Errorf("reversal metadata %v, want ticket T-9 and reversed_kind earn", meta)
	}
}

// Replay answers the entry recorded under a key and hash, nothing for an
// unknown key, and a conflict for the key with another hash.
func TestReplay(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	in := earn("C1", "6")
	in.IdempotencyKey = "k-1"
	in.RequestHash = []byte("hash-1")
	e := mustPost(t, l, in)
	got, found, err := l.Replay(ctx, "k-1", []byte("hash-1"))
	if err != nil || !found || got == nil || got.ID != e.ID {
		t.Errorf("replay of k-1: %+v found=%v err=%v; want entry %d", got, found, err, e.ID)
	}
	if got, found, err := l.Replay(ctx, "k-2", []byte("hash-1")); err != nil || found || got != nil {
		t.Errorf("replay of an unknown key: %+v found=%v err=%v; want nothing", got, found, err)
	}
	_, found, err = l.Replay(ctx, "k-1", []byte("hash-2"))
	wantCode(t, err, fault.IdempotencyConflict)
	if found {
		t.Error("a conflicting replay says found")
	}
}
