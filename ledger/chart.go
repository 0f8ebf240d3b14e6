package ledger

import (
	"strings"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/textclass"
)

// AccountSpec is what the chart of accounts says of an account code.
type AccountSpec struct {
	Asset Asset
	// AllowNegative is true for platform accounts, which hold the other side
	// of customer balances, and for a customer's points owed (a receivable,
	// whose balance is never above zero); the other customer accounts never
	// go below zero.
	AllowNegative bool
}

// customerIDBytes are the bytes of a customer id: ^[A-Za-z0-9_.-]{1,64}$.
var customerIDBytes = textclass.Of("_.-", "AZ", "az", "09")

// ValidCustomerID reports whether id may name a customer (or a product):
// 1 to 64 letters, digits, '_', '.' or '-', and not a DotSegment.
func ValidCustomerID(id string) bool { return customerIDBytes.Match(id, 1, 64) && !DotSegment(id) }

// DotSegment reports whether id is "." or "..", which no URL path can carry
// as a segment (clients resolve them away): an id the API names in a path
// (a customer, a product, a redemption, a money movement) may not be one.
func DotSegment(id string) bool { return id == "." || id == ".." }

var platformAccounts = map[string]Asset{
	"platform:points:earned:volume":     PTS,
	"platform:points:earned:referral":   PTS,
	"platform:points:earned:feedback":   PTS,
	"platform:points:earned:campaign":   PTS,
	"platform:points:earned:adjustment": PTS,
	"platform:points:redeemed":          PTS,
	"platform:points:expired":           PTS,
	"platform:cash":                     CNY,
	"platform:revenue:shipping":         CNY,
	"platform:rebate:expense":           CNY,
}

var customerAccounts = map[string]AccountSpec{
	"points":  {Asset: PTS},
	"prepaid": {Asset: CNY},
	"rebate":  {Asset: CNY},
	// Points a refund could not take back: the refund debits it, and
	// settlements from the customer's points credit it back to zero. Its
	// balance is minus what the customer owes (reconciliation proves it is
	// never above zero); it has no lots.
	"points_owed": {Asset: PTS, AllowNegative: true},
}

// Chart resolves an account code against the chart of accounts (docs/RULES.md):
// `customer:{id}:{points|prepaid|rebate|points_owed}` and the fixed platform
// accounts.
// Accounts of the chart are created on first use. It returns
// fault.UnknownAccount for any other code.
func Chart(code string) (AccountSpec, error) {
	if asset, ok := platformAccounts[code]; ok {
		return AccountSpec{Asset: asset, AllowNegative: true}, nil
	}
	if rest, ok := strings.CutPrefix(code, "customer:"); ok {
		if i := strings.LastIndexByte(rest, ':'); i > 0 && ValidCustomerID(rest[:i]) {
			if spec, ok := customerAccounts[rest[i+1:]]; ok {
				return spec, nil
			}
		}
	}
	return AccountSpec{}, &fault.Error{Code: fault.UnknownAccount, Account: code,
		Message: "account " + quote(code) + " is not in the chart of accounts"}
}

// CustomerAccount is the code of a customer's account of the given kind
// ("points", "prepaid", "rebate" or "points_owed").
func CustomerAccount(customerID, kind string) string {
	return "customer:" + customerID + ":" + kind
}

// CustomerOf returns the customer id of a customer account code.
func CustomerOf(code string) (string, bool) {
	rest, ok := strings.CutPrefix(code, "customer:")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}
