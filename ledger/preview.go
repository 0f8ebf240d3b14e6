package ledger

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// errPreview ends a preview's transaction: InTx rolls back on any error.
var errPreview = errors.New("ledger: a preview is rolled back")

// Preview runs fn exactly as InTx does (same isolation, same locks, same
// retries) and then rolls the transaction back instead of committing it:
// the answer fn computed is what the same work would do now, and nothing
// it wrote remains (entries, balances, the callers' own rows, notifications,
// idempotency keys). Sequence numbers fn drew (entry ids) are not returned
// to their sequences: a preview must not answer them as ids. fn's own
// error is returned as InTx would return it.
//
// Previews take turns here, in the process, before they begin: one at a
// time for each of keys (what fn will lock that a real call waits for: its
// customers, a featured product's stock). A preview holds its locks as the
// real call would, so without the turns, previews of one customer sent
// faster than they run would queue in the database, on the customer's
// lock, and a real write for that customer (and the group written with
// it) would wait behind every one of them. With them, a real write waits
// behind the one preview in the database, and then, now and then, another
// that took the row as it came free, before the woken write did. Previews
// without a key in common do not wait for each other. Waiting ends with
// ctx.
func (l *Ledger) Preview(ctx context.Context, keys []string, fn func(tx *Tx) error) error {
	leave, err := l.previews.enter(ctx, keys)
	if err != nil {
		return err
	}
	defer leave()
	err = l.InTx(ctx, func(tx *Tx) error {
		tx.pipe = nil // never committed: PostManyAndCommit is PostMany in it
		if err := fn(tx); err != nil {
			return err
		}
		return errPreview
	})
	if errors.Is(err, errPreview) {
		return nil
	}
	return err
}

// turns is the previews' waiting line: a turn for each key in use.
type turns struct {
	mu   sync.Mutex
	keys map[string]*turn
}

// turn is one key's: held while a preview naming the key is taken, and
// kept in turns.keys while any preview waits for it or holds it.
type turn struct {
	held  chan struct{} // a value in it: the key is held
	users int
}

// enter waits for every key, in sorted order (so that two previews wait
// for each other's keys in one order and never in a circle), and answers
// how to leave.
func (t *turns) enter(ctx context.Context, keys []string) (leave func(), err error) {
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	var held []string
	leave = func() {
		for _, k := range slices.Backward(held) {
			t.release(k)
		}
	}
	for _, k := range keys {
		if err := t.take(ctx, k); err != nil {
			leave()
			return nil, err
		}
		held = append(held, k)
	}
	return leave, nil
}

// take waits for key k.
func (t *turns) take(ctx context.Context, k string) error {
	t.mu.Lock()
	if t.keys == nil {
		t.keys = map[string]*turn{}
	}
	u := t.keys[k]
	if u == nil {
		u = &turn{held: make(chan struct{}, 1)}
		t.keys[k] = u
	}
	u.users++
	t.mu.Unlock()
	select {
	case u.held <- struct{}{}:
		return nil
	case <-ctx.Done():
		t.drop(k, u)
		return ctx.Err()
	}
}

// release gives key k back.
func (t *turns) release(k string) {
	t.mu.Lock()
	u := t.keys[k]
	t.mu.Unlock()
	<-u.held
	t.drop(k, u)
}

// drop ends one user's interest in k's turn u, and forgets it with the last.
func (t *turns) drop(k string, u *turn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u.users--; u.users == 0 {
		delete(t.keys, k)
	}
}
