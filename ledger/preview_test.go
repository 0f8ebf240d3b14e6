package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// A preview answers what the work would do now and leaves nothing of it;
// when the work fails, its own error comes back, and nothing remains
// either.
func TestPreviewAnswersThePostAndLeavesNothing(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "100"))
	entries := countRows(t, pool, "entries")

	var previewed *ledger.Entry
	err := l.Preview(ctx, nil, func(tx *ledger.Tx) error {
		var err error
		previewed, err = tx.Post(ctx, earn("C1", "50"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var after string
	for _, p := range previewed.Postings {
		if p.Account == "customer:C1:points" {
			after = p.BalanceAfter.String()
		}
	}
	if after != "150" {
		t.Errorf("previewed balance after = %q, want 100 + 50 = 150", after)
	}
	wantBalance(t, l, "customer:C1:points", "100")
	if n := countRows(t, pool, "entries"); n != entries {
		t.Errorf("%d entries after the preview, want the %d before it", n, entries)
	}

	err = l.Preview(ctx, nil, func(tx *ledger.Tx) error {
		if _, err := tx.Post(ctx, earn("C1", "7")); err != nil {
			return err
		}
		_, err := tx.Post(ctx, redeem("C1", "1000"))
		return err
	})
	wantCode(t, err, fault.InsufficientFunds)
	wantBalance(t, l, "customer:C1:points", "100")
	if n := countRows(t, pool, "entries"); n != entries {
		t.Errorf("%d entries after a failed preview, want the %d before it", n, entries)
	}
}

// Previews take turns: one at a time for a key. A preview whose key is
// held does not begin (its work never runs) until its context ends; one
// with other keys runs beside it, however many run; and once every preview
// has left, no key is kept.
func TestPreviewsTakeTurnsByKey(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	mustPost(t, l, earn("C1", "100"))

	// blocked starts a preview of key that holds its turn until release
	// is closed, and answers once its work has begun.
	release := make(chan struct{})
	var wg sync.WaitGroup
	blocked := func(key string) {
		began := make(chan struct{})
		wg.Go(func() {
			if err := l.Preview(ctx, []string{key}, func(tx *ledger.Tx) error {
				close(began)
				<-release
				return nil
			}); err != nil {
				t.Errorf("preview of %s: %v", key, err)
			}
		})
		<-began
	}
	// tries runs a preview of keys that may wait 300 ms for its turn, and
	// answers whether its work ran.
	tries := func(keys ...string) (ran bool) {
		wait, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := l.Preview(wait, keys, func(tx *ledger.Tx) error {
			ran = true
			_, err := tx.Post(wait, earn("C1", "1"))
			return err
		})
		if ran != (err == nil) {
			t.Errorf("preview of %v: ran %t, error %v", keys, ran, err)
		}
		return ran
	}

	blocked("customer:A")
	if tries("customer:A") {
		t.Error("a second preview of customer:A ran while the first held its turn")
	}
	if tries("customer:Z", "customer:A") {
		t.Error("a preview of customer:Z and customer:A ran while customer:A's turn was held")
	}
	if !tries("customer:B") {
		t.Error("a preview of customer:B waited for customer:A's")
	}
	for i := range 8 {
		blocked(fmt.Sprintf("customer:%d", i))
	}
	if !tries("customer:B") {
		t.Error("a preview of customer:B waited while nine of other customers ran")
	}
	close(release)
	wg.Wait()
	if !tries("customer:A", "customer:B") {
		t.Error("a preview waited once every other had left")
	}
	if n := ledger.PreviewKeysInUse(l); n != 0 {
		t.Errorf("%d keys kept after every preview left, want 0", n)
	}
	wantBalance(t, l, "customer:C1:points", "100")
}
