package ledger_test

import (
	"context"
	"fmt"
	"strings"
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
	// The cursor put back, the chain is sound link by link.
	asAttacker(t, pool, `UPDATE chain_links SET xid = (SELECT xid FROM entries WHERE id = entry_id) WHERE seq = 4`)
	v := verify(t, l, nil)
	wantBroken(t, v, 5, entries[0].ID, "out_of_order")
	if want := fmt.Sprintf("entry %d is linked after entry %d, which does not sort before it in (transaction, id) order: an entry linked twice, or out of order",
		entries[0].ID, entries[3].ID); v.Broken.Detail != want {
		t.Errorf("detail %q, want %q", v.Broken.Detail, want)
	}
}

// A link's record of its entry's transaction is no part of its digest: it
// is where the sealer goes on from, and what the search for an entry
// inserted inside the chain starts below. Set to 0 on the head link, it
// hid an inserted entry from Verify; it is named as an altered link now,
// and the inserted entry is still found.
func TestVerifyNamesALinkWhoseTransactionWasChanged(t *testing.T) {
	l, pool, entries := sealedBooks(t, 4)
	testdb.SkipBooks(t, "an attacker inserted an entry and changed a link")
	var id int64
	err := pool.QueryRow(context.Background(), `INSERT INTO entries (kind, effective_at, request_hash, actor, recorded_at, xid)
SELECT 'earn', effective_at, '\x00', 'test', recorded_at, xid FROM entries WHERE id = $1 RETURNING id`, entries[1].ID).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	asAttacker(t, pool, `UPDATE chain_links SET xid = '0' WHERE seq = 4`)
	wantBroken(t, verify(t, l, nil), 3, id, "unchained")
	asAttacker(t, pool, `DELETE FROM entries WHERE id = $1`, id)
	v := verify(t, l, nil)
	wantBroken(t, v, 4, entries[3].ID, "altered")
	if want := fmt.Sprintf("link 4 records transaction 0, its entry %d was written by ", entries[3].ID); !strings.HasPrefix(v.Broken.Detail, want) {
		t.Errorf("detail %q, want it to begin %q", v.Broken.Detail, want)
	}
}
