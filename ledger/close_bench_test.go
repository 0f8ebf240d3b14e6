package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/testdb"
	"github.com/tally-ledger/tally/ledger"
)

// BenchmarkClosePeriod closes December 2026 over 500,000 postings of 2026
// (250,000 entries of 20,000 customers; January to November closed), and
// reopens it, while a writer posts entries one after another. It reports,
// beside the time of a close and its reopening (ns/op), the writer's
// worst wait for an entry while the close ran (writer-worst-ms): how long
// the close held writers back; "backdated", with an entry back-dated into
// December committed while the close reads its figures.
func BenchmarkClosePeriod(b *testing.B) {
	pool := testdb.Pool(b)
	now := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	l := ledger.New(pool, ledger.WithClock(func() time.Time { return now }))
	ctx := context.Background()
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	const entries, perTx, customers = 250_000, 5_000, 20_000
	step := to.Sub(from) / entries
	for n := 0; n < entries; n += perTx {
		ins := make([]ledger.EntryInput, perTx)
		for i := range ins {
			ins[i] = at2(earn(fmt.Sprint("C", (n+i)%customers), "1"), from.Add(time.Duration(n+i)*step))
		}
		if err := l.InTx(ctx, func(tx *ledger.Tx) error { return tx.PostMany(ctx, ins, nil, nil) }); err != nil {
			b.Fatal(err)
		}
	}
	for m := 1; m <= 11; m++ {
		starts := time.Date(2026, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		if _, err := l.ClosePeriod(ctx, starts.Format("2006-01"), starts, starts.AddDate(0, 1, 0), "finance"); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}

	type post struct{ start, end time.Time }
	var (
		mu    sync.Mutex
		posts []post
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			if _, _, err := l.Post(ctx, at2(earn("W", "1"), now)); err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			posts = append(posts, post{start, time.Now()})
			mu.Unlock()
		}
	}()
	defer func() { close(stop); <-done }()
	// worst is the longest wait of the writer's entries that overlap
	// [from, to), once the writer has begun an entry after to.
	worst := func(from, to time.Time) time.Duration {
		for {
			mu.Lock()
			last := posts[len(posts)-1]
			if last.start.After(to) {
				var w time.Duration
				for _, p := range posts {
					if p.end.After(from) && p.start.Before(to) {
						w = max(w, p.end.Sub(p.start))
					}
				}
				posts = posts[:0]
				mu.Unlock()
				return w
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	run := func(b *testing.B) {
		var waits []time.Duration
		for b.Loop() {
			start := time.Now()
			if _, err := l.ClosePeriod(ctx, "2026-12", dec, to, "finance"); err != nil {
				b.Fatal(err)
			}
			waits = append(waits, worst(start, time.Now()))
			if _, err := l.ReopenPeriod(ctx, "2026-12", "finance", "bench"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(slices.Max(waits).Microseconds())/1000, "writer-worst-ms")
	}
	b.Run("quiet", run)
	// An entry back-dated into December commits while the close reads its
	// figures: the close corrects, under its lock, what it moved.
	ledger.AfterFiguresRead(l, func() {
		if _, _, err := l.Post(ctx, at2(earn("C1", "1"), dec.Add(time.Hour))); err != nil {
			b.Error(err)
		}
	})
	b.Run("backdated", run)
}
