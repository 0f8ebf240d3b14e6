// Package inflight bounds how many requests each of many callers (a
// customer key, a portal session, a customer) has in flight on a server at
// once: a request beyond the bound is refused at once, not queued, so that
// one caller sending dozens at once cannot take the cores every other
// caller's requests need. It counts in memory, per server, and reads
// nothing: a refusal costs a map lookup under a mutex.
package inflight

import "sync"

// Bound counts the requests each key K has in flight, at most Max each.
type Bound[K comparable] struct {
	max int
	mu  sync.Mutex
	n   map[K]int
}

// New is a bound of max requests in flight per key.
func New[K comparable](max int) *Bound[K] { return &Bound[K]{max: max, n: map[K]int{}} }

// Max is the bound's number of requests in flight per key.
func (b *Bound[K]) Max() int { return b.max }

// Take counts a request of key k in, or reports false when k has Max in
// flight already. Each Take that reports true is given back once (Give).
func (b *Bound[K]) Take(k K) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n[k] >= b.max {
		return false
	}
	b.n[k]++
	return true
}

// Give counts a request of key k out.
func (b *Bound[K]) Give(k K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n[k]--; b.n[k] <= 0 {
		delete(b.n, k)
	}
}

// Held is how many keys have a request in flight: 0 once every request
// taken in has been given back.
func (b *Bound[K]) Held() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.n)
}

// InFlight is how many requests key k has in flight.
func (b *Bound[K]) InFlight(k K) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n[k]
}
