package ledger

import (
	"sync"
	"sync/atomic"
)

// DefaultKnownAccounts is how many account codes a Ledger remembers as
// existing, per generation (knownAccounts): at most twice as many are
// held, some 10 MB.
const DefaultKnownAccounts = 1 << 16

// knownAccounts remembers account codes that exist in the database, so
// that a posting need not ask PostgreSQL to open its accounts. Accounts are
// never deleted, so a code remembered never goes stale; but the codes are
// as many as the customers who ever moved, so the set is bounded: codes go
// into the current generation, and when it holds limit of them it becomes
// the previous one and the one before it is dropped. A code found in the
// previous generation moves to the current one, so that the codes in use
// stay. A code forgotten costs a posting on it the statement that opens
// accounts that do not exist (ON CONFLICT DO NOTHING), not a wrong answer.
// Reads take no lock (a generation is a sync.Map, as the set was before it
// had a bound); a new generation is made under mu.
type knownAccounts struct {
	limit int64
	cur   atomic.Pointer[generation]
	prev  atomic.Pointer[generation]
	mu    sync.Mutex // held to make a new generation
}

type generation struct {
	codes sync.Map // code -> struct{}
	n     atomic.Int64
}

func newKnownAccounts(limit int) *knownAccounts {
	k := &knownAccounts{limit: int64(max(limit, 1))}
	k.cur.Store(new(generation))
	k.prev.Store(new(generation))
	return k
}

// has reports whether code is remembered.
func (k *knownAccounts) has(code string) bool {
	if _, ok := k.cur.Load().codes.Load(code); ok {
		return true
	}
	if _, ok := k.prev.Load().codes.Load(code); ok {
		k.add(code)
		return true
	}
	return false
}

// add remembers the codes.
func (k *knownAccounts) add(codes ...string) {
	for _, code := range codes {
		g := k.cur.Load()
		if _, loaded := g.codes.LoadOrStore(code, struct{}{}); loaded {
			continue
		}
		if g.n.Add(1) >= k.limit {
			k.mu.Lock()
			if k.cur.Load() == g { // not made new meanwhile
				k.prev.Store(g)
				k.cur.Store(new(generation))
			}
			k.mu.Unlock()
		}
	}
}

// forget drops the code (its creating transaction rolled back after all).
func (k *knownAccounts) forget(code string) {
	k.cur.Load().codes.Delete(code)
	k.prev.Load().codes.Delete(code)
}

// forgetAll drops every code (some remembered ones may be gone).
func (k *knownAccounts) forgetAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.prev.Store(new(generation))
	k.cur.Store(new(generation))
}

// size is how many codes are remembered (forgotten ones included: a
// bound, for the tests).
func (k *knownAccounts) size() int {
	return int(k.cur.Load().n.Load() + k.prev.Load().n.Load())
}
