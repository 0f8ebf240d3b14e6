package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// manyBuckets spreads a hot account over so many balance rows that a
// transaction held open rarely holds the row another one needs.
const manyBuckets = 32000

// tailReader pages an account's statement the way a client that keeps up
// with it does: from the top, small pages, down to the posting at the top
// of its previous pass (or the end), and keeps every posting id it is shown.
type tailReader struct {
	l     *ledger.Ledger
	code  string
	limit int
	top   int64 // the first posting of the last pass that showed any
	seen  map[int64]int
}

func newTailReader(l *ledger.Ledger, code string, limit int) *tailReader {
	return &tailReader{l: l, code: code, limit: limit, seen: map[int64]int{}}
}

func (r *tailReader) pass(ctx context.Context) error {
	var cursor, first int64
	for {
		lines, next, err := r.l.Statement(ctx, r.code, cursor, r.limit)
		if err != nil {
			return err
		}
		for _, ln := range lines {
			if ln.PostingID == r.top {
				next = 0
				break
			}
			if first == 0 {
				first = ln.PostingID
			}
			r.seen[ln.PostingID]++
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

// check compares what the reader was shown with the account's postings in
// the books: each exactly once.
func (r *tailReader) check(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT p.id FROM postings p JOIN accounts a ON a.id = p.account_id
WHERE a.code = $1`, r.code)
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
		t.Errorf("%s: %d postings in the books, the pages showed %d: never shown %v, shown twice or more %v, not in the books %v",
			r.code, len(books), len(r.seen), missing, doubled, foreign)
	}
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
	want := balance(t, l, code)
	for _, ln := range lines {
		if !ln.BalanceAfter.Equal(want) {
			t.Errorf("posting %d: balance after %s, want %s", ln.PostingID, ln.BalanceAfter, want)
		}
		want = want.Sub(ln.Amount)
	}
	if !want.IsZero() {
		t.Errorf("the balance before the first posting is %s, want 0", want)
	}
}

// Many writers post to one platform account, some holding their
// transactions open while others commit, and to a customer account they
// share, while readers page through both statements again and again with
// small pages: in the end each reader was shown every posting of the books
// exactly once.
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
	readers := []*tailReader{newTailReader(l, platform, 3), newTailReader(l, shared, 2)}
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
