// Package money holds CNY, the type of every CNY amount and balance the
// loyalty, prepaid and report answers carry, so that the API writes each at
// the asset's scale, two decimals ("400.00", "123.40", "0.00", "-20.50"),
// as the ledger's own answers (entries, accounts, the trial balance) write
// theirs. A plain decimal.Decimal is written by its MarshalJSON without
// trailing zeros ("400", "123.4"): rates, multipliers and shares, which are
// not money, keep that form.
package money

import (
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/dectext"
)

// Scale is the decimals of CNY (ledger.CNY.Scale()): to the fen.
const Scale = 2

// CNY is an amount of CNY. It is a decimal.Decimal (its methods, String
// among them, are the decimal's) but for its JSON, which is the amount at
// Scale as a string. It reads any decimal (UnmarshalJSON is the decimal's),
// so answers stored before it was written so read back alike.
type CNY struct{ decimal.Decimal }

// Of is d as CNY.
func Of(d decimal.Decimal) CNY { return CNY{d} }

// Ptr is d as a *CNY, nil for nil.
func Ptr(d *decimal.Decimal) *CNY {
	if d == nil {
		return nil
	}
	return &CNY{*d}
}

// Fixed is c at Scale: "400.00".
func (c CNY) Fixed() string { return dectext.Fixed(c.Decimal, Scale) }

// AppendJSON appends c's JSON, "400.00" with its quotes, as MarshalJSON
// writes it (for the documents written by hand: internal/jsonw).
func (c CNY) AppendJSON(b []byte) []byte {
	b = append(b, '"')
	b = dectext.AppendFixed(b, c.Decimal, Scale)
	return append(b, '"')
}

// MarshalJSON writes c at Scale, as a string.
func (c CNY) MarshalJSON() ([]byte, error) { return c.AppendJSON(make([]byte, 0, 24)), nil }
