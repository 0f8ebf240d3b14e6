package ledger

import (
	"slices"
	"sync"
)

// sealCodes is how many account codes the sealer remembers by account id,
// per generation (accountCodes): at most twice as many are held, about
// 3 MB.
const sealCodes = 1 << 14

// accountCodes remembers account codes by id for the sealer, which renders
// each posting with its account's code: read from what it remembers, it
// is not joined to accounts on every block (a hash join that read every
// account, most of the read's time). Accounts are never deleted and their
// codes never change, so a code holds for as long as the database keeps
// the transactions it was read after. One that lost them (a failover to a
// standby that had not received them, a restore) may issue their account
// ids again, to other codes: so the codes hold only while the chain still
// holds the last link this sealer wrote after reading them, which each
// Seal checks first (it drops every code otherwise, and after a Seal that
// failed). An account whose row was removed behind the ledger's back after
// its code was remembered is sealed under that code, and Verify, which
// reads the rows, names the entry. Bounded as knownAccounts is: when the
// current generation holds limit codes it becomes the previous one and the
// one before it is dropped; a code found in the previous one moves to the
// current one.
type accountCodes struct {
	mu        sync.Mutex
	limit     int
	cur, prev map[int64]string
	missed    int // accounts named by a read, for the tests

	// The last link this sealer wrote (nil: none since the codes were
	// dropped).
	lastSeq  int64
	lastLink []byte
}

// forgetAll drops every code, and the link they held with.
func (a *accountCodes) forgetAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cur, a.prev, a.lastLink = map[int64]string{}, nil, nil
}

// wrote records the last link of a block the sealer committed.
func (a *accountCodes) wrote(seq int64, link []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lastSeq, a.lastLink = seq, link
}

// last is the last link wrote recorded.
func (a *accountCodes) last() (int64, []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastSeq, a.lastLink
}

func newAccountCodes(limit int) *accountCodes {
	return &accountCodes{limit: max(limit, 1), cur: map[int64]string{}}
}

// put remembers the code of account id.
func (a *accountCodes) put(id int64, code string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.putLocked(id, code)
}

func (a *accountCodes) putLocked(id int64, code string) {
	if len(a.cur) >= a.limit {
		a.prev, a.cur = a.cur, make(map[int64]string, a.limit)
	}
	a.cur[id] = code
}

// size is how many codes are remembered.
func (a *accountCodes) size() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.cur) + len(a.prev)
}

// name sets the code of each posting whose account is remembered, and
// returns the other accounts, each once, in order.
func (a *accountCodes) name(postings map[int64][]sealPosting) []int64 {
	var missing []int64
	a.mu.Lock()
	for _, ps := range postings {
		for i := range ps {
			code, ok := a.cur[ps[i].account]
			if !ok {
				if code, ok = a.prev[ps[i].account]; ok {
					a.putLocked(ps[i].account, code)
				}
			}
			if ok {
				ps[i].code = code
			} else {
				missing = append(missing, ps[i].account)
			}
		}
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	a.missed += len(missing)
	a.mu.Unlock()
	return missing
}
