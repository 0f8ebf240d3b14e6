package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/internal/testdb"
)

// A gap's detail names the link that is missing, the one its Seq names.
func TestVerifyDetailNamesTheMissingLinkOfAGap(t *testing.T) {
	l, pool, entries := sealedBooks(t, 6)
	asAttacker(t, pool, `DELETE FROM chain_links WHERE entry_id = $1`, entries[2].ID)
	v := verify(t, l, nil)
	wantBroken(t, v, 3, entries[3].ID, "gap")
	if want := fmt.Sprintf("link 3 is missing: the chain was cut before entry %d", entries[3].ID); v.Broken.Detail != want {
		t.Errorf("gap detail %q, want %q", v.Broken.Detail, want)
	}
}

// With an entry inserted inside the chain and another entry altered,
// Verify names whichever comes first in the chain's order. An entry
// inserted in the transaction of link k sorts after it and before link
// k+1, so its place is link k+1; inserted just before the altered entry,
// it shares that link's seq and still comes first.
func TestVerifyNamesTheFirstOfAnInsertionAndAnAlteration(t *testing.T) {
	for _, c := range []struct {
		name          string
		insertAfter   int // the inserted entry takes this entry's transaction
		alter         int
		wantSeq       int64
		wantUnchained bool
	}{
		{name: "inserted before the altered entry's link", insertAfter: 0, alter: 3, wantSeq: 2, wantUnchained: true},
		{name: "inserted just before the altered entry", insertAfter: 2, alter: 3, wantSeq: 4, wantUnchained: true},
		{name: "inserted after the altered entry", insertAfter: 3, alter: 1, wantSeq: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, pool, entries := sealedBooks(t, 6)
			testdb.SkipBooks(t, "an attacker inserted an entry")
			var inserted int64
			err := pool.QueryRow(context.Background(), `INSERT INTO entries (kind, effective_at, request_hash, actor, recorded_at, xid)
SELECT 'earn', effective_at, '\x00', 'test', recorded_at, xid FROM entries WHERE id = $1 RETURNING id`, entries[c.insertAfter].ID).Scan(&inserted)
			if err != nil {
				t.Fatal(err)
			}
			asAttacker(t, pool, `UPDATE entries SET metadata = '{"note": "nothing to see"}' WHERE id = $1`, entries[c.alter].ID)
			v := verify(t, l, nil)
			if c.wantUnchained {
				wantBroken(t, v, c.wantSeq, inserted, "unchained")
				if !strings.Contains(v.Broken.Detail, fmt.Sprintf("entry %d ", inserted)) {
					t.Errorf("detail %q does not name the inserted entry %d", v.Broken.Detail, inserted)
				}
			} else {
				wantBroken(t, v, c.wantSeq, entries[c.alter].ID, "altered")
			}
		})
	}
}
