package web_test

import (
	"github.com/tally-ledger/tally/internal/books"
	"github.com/tally-ledger/tally/internal/testdb"
)

// Every test that writes ends with its books proven: the trial balance and
// the roll-forwards against the balances, and every invariant.
func init() { testdb.CheckBooks(books.Check) }
