package ledger

import (
	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
)

// Asset is what an account holds.
type Asset string

// The assets of the chart.
const (
	PTS Asset = "PTS" // loyalty points, whole numbers
	CNY Asset = "CNY" // renminbi, to the fen
)

// Scale is the number of decimal places the asset allows.
func (a Asset) Scale() int32 {
	switch a {
	case CNY:
		return 2
	default:
		return 0
	}
}

// CheckScale refuses an amount with more decimals than the asset allows.
// Trailing zeros are not decimals: "1.50" and "1.500" are both 1.5 CNY.
func (a Asset) CheckScale(amount decimal.Decimal) error {
	if !amount.Equal(amount.Truncate(a.Scale())) {
		return fault.Errorf(fault.InvalidAmount, "%s has more than %d decimal places, which %s does not allow",
			amount, a.Scale(), a)
	}
	return nil
}
