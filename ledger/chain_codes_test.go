package ledger_test

import (
	"fmt"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// The sealer names accounts from what it remembers: it reads the code of
// an account once (earn's customer account and the platform's), not on
// every block, within its bound, and the links it makes still verify.
func TestTheSealerReadsAnAccountsCodeOnce(t *testing.T) {
	l, _ := newLedger(t)
	ledger.SealerRemembersAtMost(l, 4)
	seal := func(wantRead int) {
		t.Helper()
		sealCommitted(t, l)
		if got := ledger.SealerReadCodes(l); got != wantRead {
			t.Errorf("the sealer read %d codes, want %d", got, wantRead)
		}
		if n := ledger.SealerCodes(l); n > 8 {
			t.Errorf("the sealer remembers %d codes, over twice its bound of 4", n)
		}
		if v := verify(t, l, nil); !v.OK {
			t.Fatalf("verify: %+v", v.Broken)
		}
	}
	for range 3 {
		mustPost(t, l, earn("A", "5"))
		mustPost(t, l, earn("B", "5"))
	}
	seal(3) // customer:A:points, customer:B:points, the platform's account
	for range 3 {
		mustPost(t, l, earn("A", "5"))
		mustPost(t, l, earn("B", "5"))
	}
	seal(3)
	mustPost(t, l, earn("C", "5"))
	seal(4)
	// Past the bound: six new codes fill two generations, the codes
	// before them are dropped, and are read again when they come back
	// (A's and the platform's).
	for i := range 6 {
		mustPost(t, l, earn(fmt.Sprintf("D%d", i), "5"))
	}
	seal(10)
	mustPost(t, l, earn("A", "5"))
	seal(12)
	// A code found in the older generation moves to the newer one, and so
	// outlives the next turn of generations: D0 is not read again.
	mustPost(t, l, earn("D0", "5"))
	seal(12)
	mustPost(t, l, earn("E0", "5"))
	mustPost(t, l, earn("E1", "5"))
	seal(14)
	mustPost(t, l, earn("D0", "5"))
	seal(14)
}
