package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// manyBuckets spreads a hot account over so many balance rows that a
// transaction held open rarely holds the row another one needs.
const manyBuckets = 32000

// tailReader pages a statement the way a client that keeps up with it
// does: from the top, small pages, down to the row at the top of its
// previous pass (or the end), and keeps every row id it is shown. A row is
// a posting of an account's statement, or an entry of a customer's.
type tailReader struct {
	name  string
	page  func(ctx context.Context, cursor int64) (ids []int64, next int64, err error)
	books string // the query of every row id the statement should show
	top   int64  // the first row of the last pass that showed any
	seen  map[int64]int
}

// newTailReader reads an account's statement (ledger.Statement).
func newTailReader(l *ledger.Ledger, code string, limit int) *tailReader {
	return &tailReader{name: code, seen: map[int64]int{},
		books: `SELECT p.id FROM postings p JOIN accounts a ON a.id = p.account_id WHERE a.code = '` + code + `'`,
		page: func(ctx context.Context, cursor int64) ([]int64, int64, error) {
			lines, next, err := l.Statement(ctx, code, cursor, limit)
			var ids []int64
			for _, ln := range lines {
				ids = append(ids, ln.PostingID)
			}
			return ids, next, err
		}}
}

// newCustomerReader reads the statement of a customer's three accounts
// (Tx.AccountsStatement), as loyalty's customer statement does.
func newCustomerReader(l *ledger.Ledger, customer string, limit int) *tailReader {
	codes := []string{"customer:" + customer + ":points", "customer:" + customer + ":prepaid", "customer:" + customer + ":rebate"}
	return &tailReader{name: "customer " + customer, seen: map[int64]int{},
		books: `SELECT DISTINCT p.entry_id FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.code LIKE 'customer:` + customer + `:%'`,
		page: func(ctx context.Context, cursor int64) (ids []int64, next int64, err error) {
			err = l.InTx(ctx, func(tx *ledger.Tx) error {
				entries, n, err := tx.AccountsStatement(ctx, codes, cursor, limit)
				ids, next = nil, n
				for _, e := range entries {
					ids = append(ids, e.ID)
				}
				return err
			})
			return ids, next, err
		}}
}

func (r *tailReader) pass(ctx context.Context) error {
	var cursor, first int64
	for {
		ids, next, err := r.page(ctx, cursor)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id == r.top {
				next = 0
				break
			}
			if first == 0 {
				first = id
			}
			r.seen[id]++
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	if first != 0 {
		r.top = first
	}
	return nil
}

// check compares what the reader was shown with the books: each row
// exactly once.
func (r *tailReader) check(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	rows, err := pool.Query(context.Background(), r.books)
	if err != nil {
		t.Fatal(err)
	}
	books := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		books[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var missing, doubled, foreign []int64
	for id := range books {
		if r.seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range r.seen {
		if !books[id] {
			foreign = append(foreign, id)
		}
		if n > 1 {
			doubled = append(doubled, id)
		}
	}
	if len(missing)+len(doubled)+len(foreign) > 0 || len(books) == 0 {
		t.Errorf("%s: %d rows in the books, the pages showed %d: never shown %v, shown twice or more %v, not in the books %v",
			r.name, len(books), len(r.seen), missing, doubled, foreign)
	}
}

// deposit credits the customer's prepaid account.
func deposit(customer string) ledger.EntryInput {
	return ledger.EntryInput{Kind: "deposit", Actor: "test", Postings: []ledger.PostingInput{
		{Account: "platform:cash", Amount: d("-1")},
		{Account: "customer:" + customer + ":prepaid", Amount: d("1")},
	}}
}

// A customer's points entry whose transaction began before deposits to
// the customer's prepaid account (another account, another lock) but
// commits after them is shown by a pass from the top that begins after it
// commits: it never lands below a page of the customer's statement already
// read.
func TestCustomerStatementShowsALateCommitAboveWhatWasRead(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "1"))
	r := newCustomerReader(l, "C1", 2)
	posted, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- l.InTx(ctx, func(tx *ledger.Tx) error {
			if _, err := tx.Post(ctx, earn("C1", "10")); err != nil {
				return err
			}
			select {
			case <-posted: // a retry: the others have committed already
			default:
				close(posted)
				<-release // held open while later entries commit
			}
			return nil
		})
	}()
	<-posted
	for range 3 {
		mustPost(t, l, deposit("C1"))
	}
	if err := r.pass(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.pass(ctx); err != nil {
		t.Fatal(err)
	}
	r.check(t, pool)
}

// A posting whose transaction began before others but commits after them,
// on a platform account, is shown by a pass from the top that begins after
// it commits: it never lands below a page already read.
func TestPlatformStatementShowsALateCommitAboveWhatWasRead(t *testing.T) {
	pool := testdb.Pool(t)
	// Each transaction takes one of the hot account's balance rows at random:
	// with this many, the postings below find theirs free (the held
	// transaction's row is one in 32,000).
	l := ledger.New(pool, ledger.WithHotBuckets(manyBuckets))
	ctx := context.Background()
	const code = "platform:points:earned:volume"
	mustPost(t, l, earn("C0", "1"))
	r := newTailReader(l, code, 2)

	posted, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- l.InTx(ctx, func(tx *ledger.Tx) error {
			if _, err := tx.Post(ctx, earn("C1", "10")); err != nil {
				return err
			}
			select {
			case <-posted: // a retry: the others have committed already
			default:
				close(posted)
				<-release // held open while later postings commit
			}
			return nil
		})
	}()
	<-posted
	for i := range 3 {
		mustPost(t, l, earn(fmt.Sprint("C", 2+i), "1"))
	}
	if err := r.pass(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.pass(ctx); err != nil {
		t.Fatal(err)
	}
	r.check(t, pool)

	// The balances after, walked back from the current balance, follow the
	// page order down to the first posting.
	lines, _, err := l.Statement(ctx, code, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantRunningBalance(t, lines, balance(t, l, code))
}

// wantRunningBalance checks that the lines, newest first, each hold the
// balance after them, the first one after, and that the balance before
// the last of them (the account's first posting) is zero.
func wantRunningBalance(t *testing.T, lines []ledger.StatementLine, after decimal.Decimal) {
	t.Helper()
	for _, ln := range lines {
		if !ln.BalanceAfter.Equal(after) {
			t.Errorf("posting %d: balance after %s, want %s", ln.PostingID, ln.BalanceAfter, after)
		}
		after = after.Sub(ln.Amount)
	}
	if !after.IsZero() {
		t.Errorf("the balance before the first posting is %s, want 0", after)
	}
}

// Many writers post to one platform account, some holding their
// transactions open while others commit, and to a customer they share (its
// points, and its prepaid account from the held transactions), while
// readers page through the platform account's, the customer account's and
// the customer's statements again and again with small pages: in the end
// each reader was shown every row of the books exactly once.
func TestStatementPagesShowEachPostingOnceWhileWritersRun(t *testing.T) {
	pool := testdb.Pool(t)
	l := ledger.New(pool, ledger.WithHotBuckets(manyBuckets)) // held transactions rarely block a committer
	ctx := context.Background()
	const platform, shared = "platform:points:earned:volume", "customer:shared:points"
	mustPost(t, l, earn("shared", "1"))

	// commits counts the committers' entries; a holder keeps its transaction
	// open until two more have committed (or the committers are done).
	var (
		mu      sync.Mutex
		cond    = sync.NewCond(&mu)
		commits int
		over    bool
	)
	committed := func() {
		mu.Lock()
		commits++
		mu.Unlock()
		cond.Broadcast()
	}
	holdUntilOthersCommit := func() {
		mu.Lock()
		defer mu.Unlock()
		for c0 := commits; commits < c0+2 && !over; {
			cond.Wait()
		}
	}

	const committers, holders, rounds = 6, 3, 40
	errs := make(chan error, committers+holders+2)
	var writers, committing sync.WaitGroup
	for w := range committers {
		writers.Add(1)
		committing.Add(1)
		go func() {
			defer writers.Done()
			defer committing.Done()
			for i := range rounds {
				customer := fmt.Sprintf("c%d", w)
				if i%4 == 0 {
					customer = "shared"
				}
				if _, _, err := l.Post(ctx, earn(customer, "1")); err != nil {
					errs <- err
					return
				}
				committed()
			}
		}()
	}
	for h := range holders {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range rounds / 4 {
				err := l.InTx(ctx, func(tx *ledger.Tx) error {
					if _, err := tx.Post(ctx, earn(fmt.Sprintf("h%d", h), "1")); err != nil {
						return err
					}
					if _, err := tx.Post(ctx, deposit("shared")); err != nil {
						return err
					}
					holdUntilOthersCommit()
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		committing.Wait()
		mu.Lock()
		over = true
		mu.Unlock()
		cond.Broadcast()
	}()
	stop := make(chan struct{})
	readers := []*tailReader{newTailReader(l, platform, 3), newTailReader(l, shared, 2), newCustomerReader(l, "shared", 2)}
	var reading sync.WaitGroup
	for _, r := range readers {
		reading.Add(1)
		go func() {
			defer reading.Done()
			for {
				if err := r.pass(ctx); err != nil {
					errs <- err
					return
				}
				select {
				case <-stop:
					errs <- r.pass(ctx) // the writers are done: the last pass
					return
				default:
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	reading.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range readers {
		r.check(t, pool)
	}
}

// A transaction held open in another database of the cluster writes no
// posting here: it does not hold back a platform account's statement.
func TestPlatformStatementIsNotHeldBackByAnotherDatabase(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	other, err := testdb.Pool(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback(ctx)
	var xid string
	if err := other.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	e := mustPost(t, l, earn("C1", "5"))
	lines, _, err := l.Statement(ctx, "platform:points:earned:volume", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].EntryID != e.ID {
		t.Errorf("with transaction %s open in another database, the statement shows %+v, want entry %d", xid, lines, e.ID)
	}
}
