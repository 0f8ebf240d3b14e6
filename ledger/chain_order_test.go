package ledger_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
)

// A sealer that misreads where the chain ends links entries again, each
// link computed right: the chain is sound link by link, and nothing in the
// database refuses a second link of an entry. Verify names the first link
// whose entry does not sort after the one before it.
func TestVerifyNamesAnEntryLinkedTwice(t *testing.T) {
	l, pool, entries := sealedBooks(t, 4)
	testdb.SkipBooks(t, "an attacker moved the sealer's cursor back")
	// The sealer goes on from the last link's (transaction, entry): with
	// its transaction read as 0, every entry sorts after it again.
	asAttacker(t, pool, `UPDATE chain_links SET xid = '0' WHERE seq = 4`)
	if n := sealCommitted(t, l); n != 4 {
		t.Fatalf("sealed %d again, want the 4 entries", n)
	}
	v := verify(t, l, nil)
	wantBroken(t, v, 5, entries[0].ID, "out_of_order")
	if want := fmt.Sprintf("entry %d is linked after entry %d, which does not sort before it in (transaction, id) order: an entry linked twice, or out of order",
		entries[0].ID, entries[3].ID); v.Broken.Detail != want {
		t.Errorf("detail %q, want %q", v.Broken.Detail, want)
	}
}
