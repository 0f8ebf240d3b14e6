package ledger_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// A link covers an entry's reversal, rule version and idempotency key,
// present or not: changing one present value into another, setting one
// where there was none and clearing one each leave the entry's link
// wrong, and Verify names that entry; put back as sealed, the chain holds
// again.
func TestVerifyNamesAnEntryWhoseReversalRuleVersionOrKeyWasEdited(t *testing.T) {
	l, pool := newLedger(t)
	ctx := context.Background()
	three := 3
	priced := earn("C1", "10")
	priced.RuleVersion, priced.IdempotencyKey = &three, "earn-1"
	withAll := mustPost(t, l, priced)         // link 1: rule version 3, key earn-1
	plain := mustPost(t, l, earn("C1", "20")) // link 2: none of the three
	other := mustPost(t, l, earn("C2", "30")) // link 3: none of the three
	// link 4: the reversal of link 1's entry
	rev, _, err := l.Reverse(ctx, withAll.ID, ledger.ReversalInput{Actor: "ops", Reason: "posted twice"})
	if err != nil {
		t.Fatal(err)
	}
	if n := sealCommitted(t, l); n != 4 {
		t.Fatalf("sealed %d, want 4", n)
	}
	if v := verify(t, l, nil); !v.OK || v.Checked != 4 {
		t.Fatalf("verify as sealed = %+v, want 4 links checked", v)
	}

	for _, c := range []struct {
		name       string
		seq, entry int64
		edit       string
		to, back   any
	}{
		{"reversal changed", 4, rev.ID, `UPDATE entries SET reversal_of = $1 WHERE id = $2`, other.ID, withAll.ID},
		{"reversal set", 3, other.ID, `UPDATE entries SET reversal_of = $1 WHERE id = $2`, plain.ID, nil},
		{"reversal cleared", 4, rev.ID, `UPDATE entries SET reversal_of = $1 WHERE id = $2`, nil, withAll.ID},
		{"rule version changed", 1, withAll.ID, `UPDATE entries SET rule_version = $1 WHERE id = $2`, 4, 3},
		{"rule version set", 2, plain.ID, `UPDATE entries SET rule_version = $1 WHERE id = $2`, 3, nil},
		{"rule version cleared", 1, withAll.ID, `UPDATE entries SET rule_version = $1 WHERE id = $2`, nil, 3},
		{"key changed", 1, withAll.ID, `UPDATE entries SET idempotency_key = $1, request_hash = coalesce(request_hash, '\x00') WHERE id = $2`, "earn-2", "earn-1"},
		{"key set", 2, plain.ID, `UPDATE entries SET idempotency_key = $1, request_hash = coalesce(request_hash, '\x00') WHERE id = $2`, "earn-9", nil},
		{"key cleared", 1, withAll.ID, `UPDATE entries SET idempotency_key = $1, request_hash = coalesce(request_hash, '\x00') WHERE id = $2`, nil, "earn-1"},
	} {
		asAttacker(t, pool, c.edit, c.to, c.entry)
		v := verify(t, l, nil)
		if v.OK || v.Broken == nil || v.Broken.Seq != c.seq || v.Broken.EntryID != c.entry || v.Broken.Problem != "altered" {
			t.Errorf("%s: verify = ok %v, broken %+v; want altered at link %d (entry %d)", c.name, v.OK, v.Broken, c.seq, c.entry)
		}
		asAttacker(t, pool, c.edit, c.back, c.entry)
		if v := verify(t, l, nil); !v.OK || v.Checked != 4 {
			t.Fatalf("%s put back: verify = ok %v, %d checked, broken %+v; want the 4 links sound", c.name, v.OK, v.Checked, v.Broken)
		}
	}
}
