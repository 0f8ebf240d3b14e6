package ledger_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// sealedBooks posts n entries (earnings of C1, one transaction each) and
// seals them all.
func sealedBooks(t *testing.T, n int) (*ledger.Ledger, *pgxpool.Pool, []*ledger.Entry) {
	t.Helper()
	l, pool := newLedger(t)
	var entries []*ledger.Entry
	for i := range n {
		entries = append(entries, mustPost(t, l, earn("C1", fmt.Sprint(10+i))))
	}
	if sealed := sealCommitted(t, l); sealed != n {
		t.Fatalf("sealed %d, want %d", sealed, n)
	}
	return l, pool, entries
}

// sealCommitted seals until no committed entry is left unsealed, and
// returns how many it sealed: a transaction in flight that the horizon
// counts (autovacuum's analyze, say) only delays it.
func sealCommitted(t testing.TB, l *ledger.Ledger) int {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	total := 0
	for {
		n, err := l.SealAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head == nil || head.Unsealed == 0 {
			return total
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d committed entries still unsealed after 30s", head.Unsealed)
		}
		time.Sleep(10 * time.Millisecond) // no signal tells when another transaction ends
	}
}

// asAttacker runs sql as someone with the database's password would:
// with the append-only triggers off.
func asAttacker(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func verify(t *testing.T, l *ledger.Ledger, expect *ledger.Expect) ledger.Verification {
	t.Helper()
	v, err := l.Verify(context.Background(), expect, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantBroken(t *testing.T, v ledger.Verification, seq, entry int64, problem string) {
	t.Helper()
	if v.OK || v.Broken == nil {
		t.Fatalf("verify passed (checked %d), want %s at link %d (entry %d)", v.Checked, problem, seq, entry)
	}
	if b := v.Broken; b.Seq != seq || b.EntryID != entry || b.Problem != problem {
		t.Fatalf("verify broken at link %d entry %d (%s: %s), want %s at link %d entry %d",
			b.Seq, b.EntryID, b.Problem, b.Detail, problem, seq, entry)
	}
}

func TestVerifyPassesTheBooksAsSealed(t *testing.T) {
	l, _, entries := sealedBooks(t, 7)
	v := verify(t, l, nil)
	if !v.OK || v.Checked != 7 || v.Head == nil || v.Head.Seq != 7 || v.Head.EntryID != entries[6].ID || v.Head.Unsealed != 0 {
		t.Fatalf("verify = %+v (head %+v), want 7 links, head at entry %d", v, v.Head, entries[6].ID)
	}
	head, err := l.Head(context.Background())
	if err != nil || head.Digest != v.Head.Digest {
		t.Fatalf("Head = %+v, %v; want the verified head %s", head, err, v.Head.Digest)
	}
	// An entry committed since is not sealed yet, and says so.
	mustPost(t, l, earn("C1", "5"))
	if head, err = l.Head(context.Background()); err != nil || head.Unsealed != 1 || head.Seq != 7 {
		t.Fatalf("Head after a new entry = %+v, %v; want seq 7 with 1 unsealed", head, err)
	}
}

func TestVerifyNamesAnEntryWhosePostingWasEdited(t *testing.T) {
	l, pool, entries := sealedBooks(t, 9)
	testdb.SkipBooks(t, "an attacker moved points between accounts behind the ledger's back")
	victim := entries[4]
	// Balanced, so that the entry still looks sound to every invariant.
	asAttacker(t, pool, `UPDATE postings SET amount = amount * 10 WHERE entry_id = $1`, victim.ID)
	wantBroken(t, verify(t, l, nil), 5, victim.ID, "altered")
}

func TestVerifyNamesAnEntryWhoseMetadataWasEdited(t *testing.T) {
	l, pool, entries := sealedBooks(t, 4)
	asAttacker(t, pool, `UPDATE entries SET metadata = '{"note": "nothing to see"}' WHERE id = $1`, entries[1].ID)
	wantBroken(t, verify(t, l, nil), 2, entries[1].ID, "altered")
}

func TestVerifyNamesADeletedEntry(t *testing.T) {
	l, pool, entries := sealedBooks(t, 6)
	testdb.SkipBooks(t, "an attacker deleted an entry")
	victim := entries[2]
	asAttacker(t, pool, `DELETE FROM postings WHERE entry_id = $1`, victim.ID)
	asAttacker(t, pool, `DELETE FROM points_lots WHERE entry_id = $1`, victim.ID)
	asAttacker(t, pool, `DELETE FROM entries WHERE id = $1`, victim.ID)
	wantBroken(t, verify(t, l, nil), 3, victim.ID, "missing")

	// Deleting its link as well cuts the chain there.
	asAttacker(t, pool, `DELETE FROM chain_links WHERE entry_id = $1`, victim.ID)
	wantBroken(t, verify(t, l, nil), 3, entries[3].ID, "gap")
}

func TestVerifyNamesAnEntryInsertedInsideTheChain(t *testing.T) {
	l, pool, entries := sealedBooks(t, 6)
	testdb.SkipBooks(t, "an attacker inserted an entry")
	// Dated in the transaction of the third entry, so that it sorts
	// between the third and the fourth.
	var id int64
	err := pool.QueryRow(context.Background(), `INSERT INTO entries (kind, effective_at, request_hash, actor, recorded_at, xid)
SELECT 'earn', effective_at, '\x00', 'test', recorded_at, xid FROM entries WHERE id = $1 RETURNING id`, entries[2].ID).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	wantBroken(t, verify(t, l, nil), 4, id, "unchained")
}

// An attacker who rebuilds the whole chain after an edit leaves it sound
// in itself; the head finance kept elsewhere shows it.
func TestVerifyAgainstAKeptHeadFindsARebuiltChain(t *testing.T) {
	l, pool, entries := sealedBooks(t, 5)
	kept := verify(t, l, nil).Head
	digest, _ := hex.DecodeString(kept.Digest)
	expect := &ledger.Expect{Seq: kept.Seq, Digest: digest}
	if v := verify(t, l, expect); !v.OK {
		t.Fatalf("verify against the head just kept: %+v", v.Broken)
	}
	asAttacker(t, pool, `UPDATE entries SET reason = 'rewritten' WHERE id = $1`, entries[0].ID)
	asAttacker(t, pool, `DELETE FROM chain_links`)
	asAttacker(t, pool, `DELETE FROM chain_blocks`)
	sealCommitted(t, l)
	if v := verify(t, l, nil); !v.OK {
		t.Fatalf("the rebuilt chain should hold in itself: %+v", v.Broken)
	}
	wantBroken(t, verify(t, l, expect), kept.Seq, entries[4].ID, "mismatch_with_expected")
}

// A chain longer than a page of the walk, sealed in several blocks: the
// walk checks every link, says so as it goes, and names an entry altered
// pages in; a head kept beyond the chain's end is reported missing.
func TestVerifyWalksALongChainPageByPage(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	const n = 4500
	postInOneTransaction(t, l, n)
	sealed, blocks, deadline := 0, 0, time.Now().Add(30*time.Second)
	for sealed < n {
		got, err := l.Seal(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got > 0 {
			sealed, blocks = sealed+got, blocks+1
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d entries sealed after 30s", sealed, n)
		}
		time.Sleep(10 * time.Millisecond) // a transaction the horizon counts is in flight
	}
	if blocks != 5 {
		t.Fatalf("sealed in %d blocks of at most 1000, want 5", blocks)
	}
	var calls []int64
	v, err := l.Verify(ctx, nil, func(done, total int64) {
		if total != n {
			t.Errorf("progress total %d, want %d", total, n)
		}
		calls = append(calls, done)
	})
	if err != nil || !v.OK || v.Checked != n || len(calls) < 3 || calls[len(calls)-1] != n {
		t.Fatalf("verify = %+v, %v; progress %v", v, err, calls)
	}
	head := v.Head
	digest, _ := hex.DecodeString(head.Digest)
	wantBroken(t, verify(t, l, &ledger.Expect{Seq: head.Seq + 1, Digest: digest}), head.Seq+1, 0, "mismatch_with_expected")

	var victim int64
	if err := pool.QueryRow(ctx, `SELECT entry_id FROM chain_links WHERE seq = 4321`).Scan(&victim); err != nil {
		t.Fatal(err)
	}
	asAttacker(t, pool, `UPDATE entries SET kind = 'earn2' WHERE id = $1`, victim)
	wantBroken(t, verify(t, l, nil), 4321, victim, "altered")
}

// An entry committed while an older transaction is still writing is not
// sealed until that transaction ends, and the chain then holds both in
// the order of their transactions: nothing is ever linked before an entry
// already sealed.
func TestSealWaitsForTheTransactionsInFlight(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	// The two entries touch no common row (a row the older one locked
	// would hold the later one back): their accounts exist already, and
	// the platform side of each is another channel's.
	referral := earn("C2", "2")
	referral.Postings[0].Account = "platform:points:earned:referral"
	mustPost(t, l, earn("C1", "1"))
	mustPost(t, l, referral)
	sealCommitted(t, l)
	older := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	defer letGo() // a failure below must not leave the transaction open
	done := make(chan error, 1)
	var first *ledger.Entry
	go func() {
		done <- l.InTx(ctx, func(tx *ledger.Tx) error {
			var err error
			if first, err = tx.Post(ctx, earn("C1", "1")); err != nil {
				return err
			}
			close(older)
			<-release
			return nil
		})
	}()
	<-older
	later := mustPost(t, l, referral)
	if n, err := l.Seal(ctx, 100); err != nil || n != 0 {
		t.Fatalf("Seal with an older transaction in flight = %d, %v; want 0", n, err)
	}
	letGo()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := sealCommitted(t, l); n != 2 {
		t.Fatalf("sealed %d, want 2", n)
	}
	rows, _ := pool.Query(ctx, `SELECT entry_id FROM chain_links ORDER BY seq`)
	order, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(order) != 4 || order[2] != first.ID || order[3] != later.ID {
		t.Fatalf("chain order %v, %v; want [_ _ %d %d] (the older transaction first)", order, err, first.ID, later.ID)
	}
	if v := verify(t, l, nil); !v.OK {
		t.Fatalf("verify: %+v", v.Broken)
	}
}

// Sealing alongside many writers links every committed entry exactly
// once: the chain ends up covering each entry of the books.
func TestSealingAlongsideWritersLinksEveryEntry(t *testing.T) {
	l, pool := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	sealerDone := make(chan struct{})
	go func() {
		defer close(sealerDone)
		for ctx.Err() == nil {
			if _, err := l.Seal(ctx, 7); err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 17))
			for range 40 {
				in := randomEntry(r, 6)
				if _, _, err := l.Post(context.Background(), in); err != nil && fault.CodeOf(err) != fault.InsufficientFunds {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	<-sealerDone
	sealCommitted(t, l)
	v := verify(t, l, nil)
	if entries := countRows(t, pool, "entries"); !v.OK || v.Checked != int64(entries) {
		t.Fatalf("verify = ok %v, %d links checked (broken %+v); want every one of the %d entries", v.OK, v.Checked, v.Broken, entries)
	}
}

// BenchmarkSeal measures the sealing rate: entries linked per second, in
// blocks of ledger.SealBlock (the entries are posted outside the timer).
func BenchmarkSeal(b *testing.B) {
	l, _ := newLedger(b)
	ctx := context.Background()
	const perRound = 2000
	var sealed int
	var spent time.Duration
	for range b.N {
		b.StopTimer()
		err := l.InTx(ctx, func(tx *ledger.Tx) error {
			ins := make([]ledger.EntryInput, perRound)
			for i := range ins {
				ins[i] = earn(fmt.Sprintf("C%d", i%50), "3")
			}
			return tx.PostMany(ctx, ins, nil, nil)
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		n, err := l.SealAll(ctx)
		spent += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		sealed += n
	}
	b.ReportMetric(float64(sealed)/spent.Seconds(), "entries/s")
}

// The sealer serve runs links what committed when it starts, and stops
// when its context ends.
func TestRunSealerSealsAndStopsWithItsContext(t *testing.T) {
	l, _ := newLedger(t)
	for range 3 {
		mustPost(t, l, earn("C1", "1"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.RunSealer(ctx, time.Hour, func(err error) { t.Error(err) })
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) { // no signal tells when a pass ends
		head, err := l.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if head != nil && head.Seq == 3 && head.Unsealed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("head %+v after 30s, want the 3 entries sealed", head)
		}
	}
	cancel()
	<-done
}

// A sealer that cannot reach the database says so each time and carries
// on.
func TestRunSealerReportsEachFailureAndCarriesOn(t *testing.T) {
	pool := testdb.Pool(t)
	l := ledger.New(pool)
	pool.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var failures []error
	l.RunSealer(ctx, time.Millisecond, func(err error) {
		failures = append(failures, err)
		if len(failures) == 2 {
			cancel()
		}
	})
	if len(failures) != 2 || failures[0] == nil {
		t.Fatalf("failures %v, want two, then stopped", failures)
	}
}

func TestVerifyNamesAnEntryWhosePostingWasRedated(t *testing.T) {
	l, pool, entries := sealedBooks(t, 5)
	testdb.SkipBooks(t, "an attacker moved a posting into another month behind the ledger's back")
	victim := entries[2]
	// The statements, the trial balance as of an instant and the period
	// figures all read the posting's own effective_at: moving it moves the
	// points into another month without touching the entry row.
	asAttacker(t, pool, `UPDATE postings SET effective_at = effective_at - interval '40 days' WHERE entry_id = $1`, victim.ID)
	wantBroken(t, verify(t, l, nil), 3, victim.ID, "altered")
}

// The chain's links and a closed month's digest are canonical: they do not
// depend on the collation of the database they are read from, so books
// restored into a cluster whose default collation is not C (en_US.UTF-8,
// the default of most distributions' initdb) verify as they were sealed.
func TestChainAndPeriodDigestDoNotDependOnTheDatabaseCollation(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("alice", "10"))
	mustPost(t, l, earn("Bob", "20"))
	// One entry whose postings name both customers: C orders "customer:Bob"
	// before "customer:alice", a linguistic collation the other way.
	mustPost(t, l, ledger.EntryInput{Kind: "adjustment", Actor: "test", Reason: "test", Postings: []ledger.PostingInput{
		{Account: "customer:Bob:points_owed", Amount: d("-5")},
		{Account: "customer:alice:points", Amount: d("5"), Lot: farFuture},
	}})
	if n := sealCommitted(t, l); n != 3 {
		t.Fatalf("sealed %d, want 3", n)
	}
	starts := time.Now().AddDate(0, -1, 0)
	ends := time.Now().AddDate(0, 1, 0)
	before, err := l.PeriodDigest(ctx, "2026-11", starts, ends)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE accounts ALTER COLUMN code TYPE text COLLATE "und-x-icu"`); err != nil {
		t.Fatal(err)
	}
	pool.Reset() // as after a restore: no statement prepared under the old column type
	if v := verify(t, l, nil); !v.OK {
		t.Fatalf("verify under another collation: %+v", v.Broken)
	}
	after, err := l.PeriodDigest(ctx, "2026-11", starts, ends)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the month's digest under another collation is %s, was %s", after, before)
	}
}
