package coalesce_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/coalesce"
)

// item is a test job: its key, a number unique in the test, the submission
// it came in and, for Apart, a twin mark.
type item struct {
	key  string
	n    int
	sub  int
	twin string
}

// recorder runs groups and remembers them.
type recorder struct {
	mu     sync.Mutex
	groups [][]item
	gate   chan struct{} // when not nil, the first group waits until it is closed
	first  sync.Once
}

func (r *recorder) run(group []item) ([]int, error) {
	if r.gate != nil {
		r.first.Do(func() { <-r.gate })
	}
	r.mu.Lock()
	r.groups = append(r.groups, slices.Clone(group))
	r.mu.Unlock()
	out := make([]int, len(group))
	for i, it := range group {
		out[i] = it.n * 2
	}
	return out, nil
}

func newCoalescer(writers, maxGroup int, run func([]item) ([]int, error)) *coalesce.Coalescer[item, int] {
	return coalesce.New(coalesce.Config[item, int]{Writers: writers, MaxGroup: maxGroup, MaxYield: time.Hour,
		Key: func(it item) string { return it.key }, Apart: func(it item) string { return it.twin }, Run: run})
}

func waitAll(t *testing.T, jobs []*coalesce.Job[item, int], items []item) {
	t.Helper()
	for i, j := range jobs {
		got, err := j.Wait(context.Background())
		if err != nil || got != items[i].n*2 {
			t.Fatalf("job %d: %d, %v; want %d", items[i].n, got, err, items[i].n*2)
		}
	}
}

// TestJobsOfOneKeyAreDoneInTheOrderSubmitted submits jobs of several keys
// one submission after another while the first group is held, so that the
// rest queue up, and checks that every key's jobs were done in the order
// submitted, that jobs queued together were done together, and that a group
// passes MaxGroup only when one submission alone is bigger.
func TestJobsOfOneKeyAreDoneInTheOrderSubmitted(t *testing.T) {
	const maxGroup = 5
	r := &recorder{gate: make(chan struct{})}
	c := newCoalescer(3, maxGroup, r.run)
	var (
		items []item
		jobs  []*coalesce.Job[item, int]
	)
	for sub := range 120 {
		size := 1 + sub%3
		if sub == 60 {
			size = 2 * maxGroup // one submission bigger than a group, of one key
		}
		var part []item
		for range size {
			key := fmt.Sprint("k", len(items)%7)
			if sub == 60 {
				key = "k0"
			}
			part = append(part, item{key: key, n: len(items), sub: sub})
			items = append(items, part[len(part)-1])
		}
		jobs = append(jobs, c.Submit(part)...)
		if sub == 0 {
			runtime.Gosched()
		}
	}
	close(r.gate)
	waitAll(t, jobs, items)

	last := map[string]int{}
	done, biggest, merged := 0, 0, 0
	for _, g := range r.groups {
		done += len(g)
		biggest = max(biggest, len(g))
		if g[0].sub != g[len(g)-1].sub {
			merged++
		}
		if len(g) > maxGroup && g[0].sub != g[len(g)-1].sub {
			t.Errorf("a group of %d jobs from more than one submission: %v", len(g), g)
		}
		for _, it := range g {
			if prev, ok := last[it.key]; ok && prev > it.n {
				t.Errorf("key %s: job %d done after job %d", it.key, it.n, prev)
			}
			last[it.key] = it.n
		}
	}
	if done != len(items) {
		t.Errorf("%d jobs done, %d submitted", done, len(items))
	}
	if merged == 0 {
		t.Errorf("no group held jobs of more than one submission: nothing was coalesced")
	}
	if biggest <= maxGroup {
		t.Errorf("no group held more than %d jobs: the big submission was split", maxGroup)
	}
}

// TestAKeyIsInOneGroupAtATime has many goroutines submit jobs of a few keys
// to four writers and checks that no two groups done at once share a key,
// that no more groups than writers are done at once, and that every job
// gets its own result.
func TestAKeyIsInOneGroupAtATime(t *testing.T) {
	const writers = 4
	var (
		mu         sync.Mutex
		active     = map[string]bool{}
		running    int
		maxRunning int
		clashes    []string
	)
	c := newCoalescer(writers, 10, func(group []item) ([]int, error) {
		mu.Lock()
		running++
		maxRunning = max(maxRunning, running)
		keys := map[string]bool{}
		for _, it := range group {
			keys[it.key] = true
		}
		for k := range keys {
			if active[k] {
				clashes = append(clashes, k)
			}
			active[k] = true
		}
		mu.Unlock()
		runtime.Gosched()
		mu.Lock()
		for k := range keys {
			delete(active, k)
		}
		running--
		mu.Unlock()
		out := make([]int, len(group))
		for i, it := range group {
			out[i] = it.n * 2
		}
		return out, nil
	})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range 60 {
				var part []item
				for k := range 1 + s%4 {
					part = append(part, item{key: fmt.Sprint("k", (g+s+k)%12), n: g*10000 + s*10 + k})
				}
				waitAll(t, c.Submit(part), part)
			}
		}()
	}
	wg.Wait()
	if len(clashes) > 0 {
		t.Errorf("keys in two groups at once: %v", clashes)
	}
	if maxRunning > writers {
		t.Errorf("%d groups at once, with %d writers", maxRunning, writers)
	}
}

var errGroup = errors.New("the group failed")

// TestEveryJobIsFinishedOnceWithItsGroupsOutcome runs groups that succeed,
// fail, panic or answer too few results, from many goroutines, and checks
// that every job was in exactly one group and got that group's outcome: its
// result, the group's error, or an error naming the panic or the shortfall.
// (A job finished twice would panic on its closed channel.)
func TestEveryJobIsFinishedOnceWithItsGroupsOutcome(t *testing.T) {
	var (
		mu      sync.Mutex
		seen    = map[int]int{}
		outcome = map[int]string{}
	)
	c := newCoalescer(2, 8, func(group []item) ([]int, error) {
		kind := "ok"
		for _, it := range group {
			switch {
			case it.n%29 == 0:
				kind = "panic"
			case it.n%31 == 0 && kind == "ok":
				kind = "fail"
			case it.n%37 == 0 && kind == "ok":
				kind = "short"
			}
		}
		mu.Lock()
		for _, it := range group {
			seen[it.n]++
			outcome[it.n] = kind
		}
		mu.Unlock()
		out := make([]int, len(group))
		for i, it := range group {
			out[i] = it.n * 2
		}
		switch kind {
		case "panic":
			panic("a bug")
		case "fail":
			return nil, errGroup
		case "short":
			return out[1:], nil
		}
		return out, nil
	})
	type result struct {
		it  item
		got int
		err error
	}
	results := make(chan result, 2000)
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range 40 {
				var part []item
				for k := range 1 + s%5 {
					part = append(part, item{key: fmt.Sprint("k", (g*7+s+k)%9), n: 1 + g*1000 + s*10 + k})
				}
				for i, j := range c.Submit(part) {
					got, err := j.Wait(context.Background())
					results <- result{part[i], got, err}
				}
			}
		}()
	}
	wg.Wait()
	close(results)
	kinds := map[string]int{}
	for r := range results {
		n := r.it.n
		if seen[n] != 1 {
			t.Errorf("job %d was in %d groups", n, seen[n])
		}
		kinds[outcome[n]]++
		var ok bool
		switch outcome[n] {
		case "ok":
			ok = r.err == nil && r.got == n*2
		case "fail":
			ok = errors.Is(r.err, errGroup)
		case "panic":
			ok = r.err != nil && strings.Contains(r.err.Error(), "panic: a bug")
		case "short":
			ok = r.err != nil && strings.Contains(r.err.Error(), "results for a group of")
		}
		if !ok {
			t.Errorf("job %d of a group that went %q: %d, %v", n, outcome[n], r.got, r.err)
		}
	}
	for _, k := range []string{"ok", "fail", "panic", "short"} {
		if kinds[k] == 0 {
			t.Errorf("no group went %q: %v", k, kinds)
		}
	}
}

// TestJobsKeptApartGoInLaterGroups submits twins in one submission: the
// later twin waits for a group of its own, after the first.
func TestJobsKeptApartGoInLaterGroups(t *testing.T) {
	r := &recorder{}
	c := newCoalescer(1, 10, r.run)
	items := []item{{key: "a", n: 1, twin: "x"}, {key: "a", n: 2, twin: "y"}, {key: "a", n: 3, twin: "x"}, {key: "a", n: 4, twin: "x"}}
	waitAll(t, c.Submit(items), items)
	var got []string
	for _, g := range r.groups {
		var ns []string
		for _, it := range g {
			ns = append(ns, fmt.Sprint(it.n))
		}
		got = append(got, strings.Join(ns, ","))
	}
	if want := []string{"1,2", "3", "4"}; !slices.Equal(got, want) {
		t.Errorf("groups %v, want %v", got, want)
	}
}

// TestWritersYieldToReadsInFlight holds a read open while a job is
// submitted: the writer must wait (it is seen pausing) and do the group only
// once the read is done.
func TestWritersYieldToReadsInFlight(t *testing.T) {
	var readDone atomic.Bool
	ranEarly := make(chan bool, 1)
	c := newCoalescer(1, 10, func(group []item) ([]int, error) {
		ranEarly <- !readDone.Load()
		return []int{group[0].n * 2}, nil
	})
	paused := make(chan struct{})
	var once sync.Once
	c.SetPause(func() {
		once.Do(func() { close(paused) })
		time.Sleep(10 * time.Microsecond)
	})
	done := c.Reading()
	items := []item{{key: "a", n: 1}}
	jobs := c.Submit(items)
	finished := make(chan struct{})
	go func() {
		jobs[0].Wait(context.Background())
		close(finished)
	}()
	select {
	case <-paused: // the writer is yielding
	case <-finished:
		t.Fatal("the group was done while a read was in flight, without yielding")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := jobs[0].Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with an ended context: %v", err)
	}
	readDone.Store(true)
	done()
	waitAll(t, jobs, items)
	if <-ranEarly {
		t.Error("the group was done while the read was in flight")
	}
}

// TestWritersYieldNoLongerThanMaxYield holds a read open for the whole test:
// the job is done all the same, once MaxYield has passed.
func TestWritersYieldNoLongerThanMaxYield(t *testing.T) {
	r := &recorder{}
	c := coalesce.New(coalesce.Config[item, int]{Writers: 1, MaxGroup: 10, MaxYield: 5 * time.Millisecond,
		Key: func(it item) string { return it.key }, Run: r.run})
	done := c.Reading()
	defer done()
	items := []item{{key: "a", n: 1}}
	waitAll(t, c.Submit(items), items)
}
