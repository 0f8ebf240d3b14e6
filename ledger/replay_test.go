package ledger_test

import (
	"context"
	"testing"
)

// A retry is recognised by what it records, not by how it lists it: the same
// postings in another order replay the first entry.
func TestRetryWithPostingsInAnotherOrderReplays(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	in := earn("C1", "10")
	in.IdempotencyKey = "k1"
	first, _, err := l.Post(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	retry := earn("C1", "10")
	retry.IdempotencyKey = "k1"
	retry.Postings[0], retry.Postings[1] = retry.Postings[1], retry.Postings[0]
	again, replayed, err := l.Post(ctx, retry)
	if err != nil || !replayed || again.ID != first.ID {
		t.Fatalf("retry with the postings swapped: %v, replayed %v, %v; want a replay of entry %d", again, replayed, err, first.ID)
	}
	if n := countRows(t, pool, "entries"); n != 1 {
		t.Errorf("%d entries, want 1", n)
	}
	wantBalance(t, l, "customer:C1:points", "10")
}
