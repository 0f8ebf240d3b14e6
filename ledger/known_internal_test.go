package ledger

import (
	"fmt"
	"testing"
)

// TestKnownAccountsKeepTheCodesInUse: with 100 codes a generation, after
// 10,000 new codes at most 200 are remembered, the last 100 among them;
// a code asked for in every generation is never forgotten, and one
// forgotten is not remembered.
func TestKnownAccountsKeepTheCodesInUse(t *testing.T) {
	k := newKnownAccounts(100)
	k.add("hot")
	for i := range 10000 {
		k.add(fmt.Sprint("c", i))
		if i%50 == 0 && !k.has("hot") {
			t.Fatalf("after %d codes, the code asked for all along is forgotten", i)
		}
	}
	if n := k.size(); n > 200 {
		t.Errorf("%d codes remembered, want at most 200", n)
	}
	for i := 9900; i < 10000; i++ {
		if !k.has(fmt.Sprint("c", i)) {
			t.Errorf("c%d, among the last 100, is forgotten", i)
		}
	}
	if k.has("c0") {
		t.Error("c0, 10,000 codes ago, is still remembered")
	}
	k.forget("hot")
	if k.has("hot") {
		t.Error("a code forgotten is still remembered")
	}
}
