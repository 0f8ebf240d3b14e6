package main

import (
	"github.com/tally-ledger/tally/internal/books"
	"github.com/tally-ledger/tally/internal/testdb"
)

func init() { testdb.CheckBooks(books.Check) }
