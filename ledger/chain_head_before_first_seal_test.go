package ledger_test

import (
	"context"
	"testing"
)

// Before the first seal there is no link, but the entries committed are
// already waiting: Head answers their count (what the unsealed-entries
// gauge shows), and nil only while the books hold no entry at all.
func TestHeadBeforeTheFirstSealCountsTheEntriesWaiting(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	head, err := l.Head(ctx)
	if err != nil || head != nil {
		t.Fatalf("Head of empty books = %+v, %v; want nil", head, err)
	}
	for _, points := range []string{"10", "20", "30"} {
		mustPost(t, l, earn("C1", points))
	}
	head, err = l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head == nil || head.Unsealed != 3 || head.Seq != 0 || head.Digest != "" {
		t.Fatalf("Head with 3 entries and nothing sealed = %+v; want no link and 3 unsealed", head)
	}
	if sealed := sealCommitted(t, l); sealed != 3 {
		t.Fatalf("sealed %d, want 3", sealed)
	}
	if head, err = l.Head(ctx); err != nil || head == nil || head.Seq != 3 || head.Unsealed != 0 {
		t.Fatalf("Head after the seal = %+v, %v; want link 3 with nothing unsealed", head, err)
	}
}
