package ledger

import "sync"

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
type knownAccounts struct {
	mu        sync.Mutex
	cur, prev map[string]struct{}
	limit     int
}

func newKnownAccounts(limit int) *knownAccounts {
	return &knownAccounts{cur: make(map[string]struct{}), limit: max(limit, 1)}
}

// has reports whether code is remembered.
func (k *knownAccounts) has(code string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.cur[code]; ok {
		return true
	}
	if _, ok := k.prev[code]; ok {
		k.addLocked(code)
		return true
	}
	return false
}

// add remembers the codes.
func (k *knownAccounts) add(codes ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, code := range codes {
		k.addLocked(code)
	}
}

func (k *knownAccounts) addLocked(code string) {
	if _, ok := k.cur[code]; ok {
		return
	}
	if len(k.cur) >= k.limit {
		k.prev, k.cur = k.cur, make(map[string]struct{}, k.limit)
	}
	k.cur[code] = struct{}{}
}

// forget drops the code (its creating transaction rolled back after all).
func (k *knownAccounts) forget(code string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.cur, code)
	delete(k.prev, code)
}

// size is how many codes are remembered.
func (k *knownAccounts) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.cur) + len(k.prev)
}
