package chaos

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load is the chaos clients' load, the same in every chaos test: the
// workers, each sending its mix of operations, and the expiry job run all
// along, until the run's time is up (and its target met).
type load struct {
	c        *client
	sc       *scene
	began    time.Time
	u        *until
	workers  []*worker
	expiries []*answer // the expiry job's runs, each as it answered
	runs     int
	seq      atomic.Int64
	wg       sync.WaitGroup
}

// startLoad starts the workers and the expiry job. The run is valid with
// minAcked operations acknowledged: it lasts duration, and goes on, up to
// limit, until it has 10% more than that.
func startLoad(c *client, sc *scene, fail func(string, ...any), duration, limit time.Duration, minAcked int) *load {
	ld := &load{c: c, sc: sc, began: time.Now()}
	ld.u = &until{stop: ld.began.Add(duration), limit: ld.began.Add(limit), target: int64(minAcked + minAcked/10)}
	for n := range workerCount {
		w := &worker{n: n, r: rand.New(rand.NewPCG(uint64(n), uint64(time.Now().UnixNano()))), c: c, sc: sc, seq: &ld.seq,
			acked: &ld.u.acked, fails: fail}
		ld.workers = append(ld.workers, w)
		ld.wg.Go(func() { w.run(ld.u) })
	}
	ld.wg.Go(func() {
		r := rand.New(rand.NewPCG(99, uint64(time.Now().UnixNano())))
		for !ld.u.over() && ld.expire(r) {
			time.Sleep(300 * time.Millisecond)
		}
	})
	return ld
}

// expire runs the expiry job once and keeps its answer; false when no
// answer came at all.
func (ld *load) expire(r *rand.Rand) bool {
	o := expiryOp(ld.sc.boundary, ld.runs)
	ld.runs++
	reply, unseen, ok := ld.c.do(o.method, o.path, nil, r)
	if ok {
		ld.expiries = append(ld.expiries, &answer{op: o, status: reply.status, body: reply.body, unseen: unseen})
	}
	return ok
}

// finish waits for the load to end, then runs a last expiry (X customers
// must then hold nothing) and sends up to sweep acknowledged requests again
// (replaySweep); it returns those replays and how long the run took.
func (ld *load) finish(sweep int) (replays []*answer, ran time.Duration) {
	ld.wg.Wait()
	ran = time.Since(ld.began).Round(time.Second)
	r := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	ld.expire(r)
	return replaySweep(ld.c, ld.workers, sweep, r), ran
}

// judge checks every answer of the run, and the balances the API answered
// at now, against the books.
func (ld *load) judge(t *testing.T, b *books, replays []*answer, apiBalances map[string]customerBalances, now time.Time,
	fail func(string, ...any)) *oracle {
	o := newOracle(b, ld.sc, fail)
	for _, x := range xCustomers {
		o.points[x] = xLots * xLotPoints
	}
	for _, w := range ld.workers {
		for _, a := range w.log {
			o.judge(a)
		}
	}
	for _, a := range ld.expiries {
		o.judge(a)
	}
	for _, a := range replays {
		o.judge(a)
	}
	o.tally(ld.workers)
	t.Logf("acknowledged / refused by kind: %v", o.byKind)
	for id, api := range apiBalances {
		o.balances(id, api, now)
	}
	return o
}
