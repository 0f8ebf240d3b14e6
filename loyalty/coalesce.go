package loyalty

import (
	"sync"
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
// for everything that queued in the meantime (group commit). Up to writers
// groups run at once; a writer exits when the queue is empty, so an idle
// service holds no goroutine. Each event's handler waits for its job.
//
// A submission (one request's events) is never split across groups, so a
// batch's events of one customer keep their order. An event whose partner
// key and id are already in the group (a retry racing its original) waits
// for the next group, where it finds the original's result.
type coalescer struct {
	writers   int
	maxEvents int
	run       func(group []*job)

	mu     sync.Mutex
	queue  [][]*job
	active int
}

func (c *coalescer) submit(jobs []*job) {
	c.mu.Lock()
	c.queue = append(c.queue, jobs)
	start := c.active < c.writers
	if start {
		c.active++
	}
	c.mu.Unlock()
	if start {
		go c.work()
	}
}

type eventKey struct {
	keyID   int64
	eventID string
}

func (c *coalescer) work() {
	for {
		group, ok := c.next()
		if !ok {
			return
		}
		c.run(group)
	}
}

// next takes the queued submissions for one group, at least one and as many
// as fit in maxEvents; false when the queue is empty (the writer exits).
func (c *coalescer) next() ([]*job, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.active--
		return nil, false
	}
	var (
		group    []*job
		deferred []*job
		taken    int
		seen     = map[eventKey]bool{}
	)
	for _, sub := range c.queue {
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
	rest := c.queue[taken:]
	if len(deferred) > 0 {
		rest = append([][]*job{deferred}, rest...)
	}
	c.queue = append(c.queue[:0:0], rest...)
	return group, true
}
