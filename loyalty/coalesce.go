package loyalty

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// job is one event waiting for its group's commit.
type job struct {
	keyID int64
	actor string
	ev    Event
	hash  []byte
	out   Outcome
	done  chan struct{} // closed once out is final
}

func (j *job) finish(o Outcome) {
	j.out = o
	close(j.done)
}

// coalescer gathers the events that arrive while earlier ones are being
// written and hands them to run as one group: one transaction, one commit,
// for everything that queued in the meantime (group commit).
//
// Customers are split between writers by a hash of their id, and each
// writer writes one group at a time, so two groups written at once never
// wait for each other's customer locks, and one customer's events are
// written in the order they were submitted. A writer's goroutine exits when
// its queue is empty: an idle service holds none.
//
// A submission's events of one writer go in one group unless that would
// pass maxEvents. An event whose partner key and id are already in the
// group (a retry racing its original) waits for the next group, where it
// finds the original's result.
type coalescer struct {
	maxEvents int
	run       func(group []*job)
	seed      maphash.Seed

	// reads counts the reads in flight. Before a group, a writer waits for
	// them to finish, up to maxYield: on a saturated machine a balance read
	// would otherwise queue for a CPU behind the groups' work. The events
	// waiting meanwhile only make the next group bigger, which is cheaper
	// per event.
	reads    atomic.Int64
	maxYield time.Duration

	mu      sync.Mutex
	writers []writerQueue
}

type writerQueue struct {
	queue  [][]*job
	active bool
}

func newCoalescer(writers, maxEvents int, run func([]*job)) *coalescer {
	return &coalescer{maxEvents: maxEvents, run: run, seed: maphash.MakeSeed(), writers: make([]writerQueue, writers),
		maxYield: 2 * time.Millisecond}
}

func (c *coalescer) submit(jobs []*job) {
	parts := make([][]*job, len(c.writers))
	for _, j := range jobs {
		w := int(maphash.String(c.seed, j.ev.CustomerID) % uint64(len(c.writers)))
		parts[w] = append(parts[w], j)
	}
	c.mu.Lock()
	var start []int
	for w, part := range parts {
		if len(part) == 0 {
			continue
		}
		q := &c.writers[w]
		q.queue = append(q.queue, part)
		if !q.active {
			q.active = true
			start = append(start, w)
		}
	}
	c.mu.Unlock()
	for _, w := range start {
		go c.work(w)
	}
}

type eventKey struct {
	keyID   int64
	eventID string
}

func (c *coalescer) work(w int) {
	for {
		c.yield()
		group, ok := c.next(w)
		if !ok {
			return
		}
		c.run(group)
	}
}

// yield waits until no read is in flight, or maxYield has passed.
func (c *coalescer) yield() {
	if c.reads.Load() == 0 {
		return
	}
	deadline := time.Now().Add(c.maxYield)
	for c.reads.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
}

// next takes writer w's queued submissions for one group, at least one and
// as many as fit in maxEvents; false when the queue is empty (the writer
// exits).
func (c *coalescer) next(w int) ([]*job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := &c.writers[w]
	if len(q.queue) == 0 {
		q.active = false
		return nil, false
	}
	var (
		group    []*job
		deferred []*job
		taken    int
		seen     = map[eventKey]bool{}
	)
	for _, sub := range q.queue {
		if len(group) > 0 && len(group)+len(sub) > c.maxEvents {
			break
		}
		taken++
		for _, j := range sub {
			k := eventKey{j.keyID, j.ev.EventID}
			if seen[k] {
				deferred = append(deferred, j)
				continue
			}
			seen[k] = true
			group = append(group, j)
		}
	}
	rest := q.queue[taken:]
	if len(deferred) > 0 {
		rest = append([][]*job{deferred}, rest...)
	}
	q.queue = append(q.queue[:0:0], rest...)
	return group, true
}
