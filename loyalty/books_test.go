package loyalty_test

import (
	"github.com/tally-ledger/tally/internal/books"
	"github.com/tally-ledger/tally/internal/testdb"
)

// Every test that writes ends with its books proven: the trial balance and
// the roll-forwards against the balances, and every invariant.
func init() { testdb.CheckBooks(books.Check) }

// breaksBooks spares the test's database the books check: the test breaks
// its books on purpose, to see reconciliation find it.
func (e *env) breaksBooks(why string) { testdb.SkipBooks(e.t, why) }
