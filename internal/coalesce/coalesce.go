// Package coalesce is group commit: jobs that arrive while earlier ones are
// being done wait, and are handed over together, as one group, to a
// function that does them all at once (one transaction, one commit, for
// everything that queued in the meantime).
//
// Jobs are spread over a fixed number of writers by a key, and each writer
// does one group at a time, so the jobs of one key are done one group after
// another, in the order they were submitted, and two groups done at once
// never share a key. Every job is finished exactly once: with its result,
// or with the error of its group (a panic included).
//
// It knows nothing of what the jobs are, of SQL or of HTTP: loyalty hands it
// partner events keyed by customer, and the function that writes a group of
// them; prepaid its money movements and catalog its redemptions, the same
// way. It lives under internal/ because it is machinery that Tally's
// packages share, not part of the domain; it keeps the batching, its
// ordering and its goroutines apart from the code that prices and writes,
// so that each can be read and tested alone.
package coalesce

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Config says how to group jobs of type T and how to do a group.
type Config[T, R any] struct {
	// Writers is how many groups may be done at once, each for its own
	// share of the keys (at least 1).
	Writers int
	// MaxGroup is the most jobs a group holds, unless one submission alone
	// has more: a submission is never split between groups of one writer
	// (except for jobs kept Apart).
	MaxGroup int
	// MaxYield is how long a writer holds a group back while reads are in
	// flight (see Reading).
	MaxYield time.Duration
	// Key places a job: the jobs of one key go to one writer.
	Key func(T) string
	// Apart, when set, keeps jobs with the same value ("" aside) out of
	// one group: the later one waits for the next group of its writer.
	// Loyalty uses it for a retried event racing its original, which must
	// find the original done.
	Apart func(T) string
	// Run does a group and returns each job's result, by index. An error
	// (or a panic) finishes every job of the group with it.
	Run func(group []T) ([]R, error)
}

// Coalescer gathers jobs into groups and runs them. It is safe for
// concurrent use. A writer's goroutine exists only while its queue has
// jobs: an idle Coalescer holds none.
type Coalescer[T, R any] struct {
	cfg  Config[T, R]
	seed maphash.Seed

	// reads counts the reads in flight. Before a group, a writer waits for
	// them to finish, up to MaxYield: on a saturated machine a read would
	// otherwise queue for a CPU behind the groups' work. The jobs waiting
	// meanwhile only make the next group bigger, which is cheaper per job.
	reads atomic.Int64
	pause func() // one wait of a yielding writer

	mu      sync.Mutex
	writers []queue[T, R]
}

type queue[T, R any] struct {
	submissions [][]*Job[T, R]
	active      bool // a goroutine works through the queue
}

// Job is one submitted job, waiting for its group.
type Job[T, R any] struct {
	item  T
	apart string
	res   R
	err   error
	done  chan struct{} // closed once res and err are final
}

// Wait returns the job's result once its group is done, or ctx's error if
// ctx ends first (the job is still done, later).
func (j *Job[T, R]) Wait(ctx context.Context) (R, error) {
	select {
	case <-j.done:
		return j.res, j.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// New returns a Coalescer for cfg.
func New[T, R any](cfg Config[T, R]) *Coalescer[T, R] {
	cfg.Writers = max(cfg.Writers, 1)
	cfg.MaxGroup = max(cfg.MaxGroup, 1)
	return &Coalescer[T, R]{cfg: cfg, seed: maphash.MakeSeed(), writers: make([]queue[T, R], cfg.Writers),
		pause: func() { time.Sleep(50 * time.Microsecond) }}
}

// Submit queues the items as jobs and returns them, by index. Those of one
// writer go into one group unless that would pass MaxGroup.
func (c *Coalescer[T, R]) Submit(items []T) []*Job[T, R] {
	jobs := make([]*Job[T, R], len(items))
	parts := make([][]*Job[T, R], len(c.writers))
	for i, item := range items {
		j := &Job[T, R]{item: item, done: make(chan struct{})}
		if c.cfg.Apart != nil {
			j.apart = c.cfg.Apart(item)
		}
		jobs[i] = j
		w := int(maphash.String(c.seed, c.cfg.Key(item)) % uint64(len(c.writers)))
		parts[w] = append(parts[w], j)
	}
	c.mu.Lock()
	var start []int
	for w, part := range parts {
		if len(part) == 0 {
			continue
		}
		q := &c.writers[w]
		q.submissions = append(q.submissions, part)
		if !q.active {
			q.active = true
			start = append(start, w)
		}
	}
	c.mu.Unlock()
	for _, w := range start {
		go c.work(w)
	}
	return jobs
}

// Reading tells the writers that a read is in flight, until done is called:
// they hold back new groups for a moment (MaxYield at most), so that reads
// are answered first on a busy machine.
func (c *Coalescer[T, R]) Reading() (done func()) {
	c.reads.Add(1)
	return func() { c.reads.Add(-1) }
}

func (c *Coalescer[T, R]) work(w int) {
	for {
		c.yield()
		group, ok := c.next(w)
		if !ok {
			return
		}
		c.run(group)
	}
}

// run does the group and finishes each of its jobs, once.
func (c *Coalescer[T, R]) run(group []*Job[T, R]) {
	items := make([]T, len(group))
	for i, j := range group {
		items[i] = j.item
	}
	res, err := c.call(items)
	if err == nil && len(res) != len(group) {
		err = fmt.Errorf("coalesce: %d results for a group of %d", len(res), len(group))
	}
	for i, j := range group {
		if err != nil {
			j.err = err
		} else {
			j.res = res[i]
		}
		close(j.done)
	}
}

// call runs the group, turning a panic (a bug) into the group's error, so
// that every waiting job gets an answer and the writer lives on.
func (c *Coalescer[T, R]) call(items []T) (res []R, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("coalesce: panic: %v", r)
		}
	}()
	return c.cfg.Run(items)
}

// yield waits until no read is in flight, or MaxYield has passed.
func (c *Coalescer[T, R]) yield() {
	if c.reads.Load() == 0 {
		return
	}
	deadline := time.Now().Add(c.cfg.MaxYield)
	for c.reads.Load() > 0 && time.Now().Before(deadline) {
		c.pause()
	}
}

// next takes writer w's queued submissions for one group, at least one and
// as many as fit in MaxGroup; false when the queue is empty (the writer's
// goroutine then exits).
func (c *Coalescer[T, R]) next(w int) ([]*Job[T, R], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := &c.writers[w]
	if len(q.submissions) == 0 {
		q.active = false
		return nil, false
	}
	var (
		group, deferred []*Job[T, R]
		taken           int
		seen            = map[string]bool{}
	)
	for _, sub := range q.submissions {
		if len(group) > 0 && len(group)+len(sub) > c.cfg.MaxGroup {
			break
		}
		taken++
		for _, j := range sub {
			if j.apart != "" {
				if seen[j.apart] {
					deferred = append(deferred, j)
					continue
				}
				seen[j.apart] = true
			}
			group = append(group, j)
		}
	}
	rest := q.submissions[taken:]
	if len(deferred) > 0 {
		rest = append([][]*Job[T, R]{deferred}, rest...)
	}
	q.submissions = append(q.submissions[:0:0], rest...)
	return group, true
}
