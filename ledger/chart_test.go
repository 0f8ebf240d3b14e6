package ledger_test

import (
	"errors"
	"github.com/tally-ledger/tally/internal/fault"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/ledger"
)

// The chart of DOMAIN.md: three accounts per customer, ten platform accounts.
func TestChart(t *testing.T) {
	for _, tc := range []struct {
		code     string
		asset    ledger.Asset
		negative bool
	}{
		{"customer:C1:points", ledger.PTS, false},
		{"customer:C1:prepaid", ledger.CNY, false},
		{"customer:C1:rebate", ledger.CNY, false},
		{"customer:a.b_c-D9:points", ledger.PTS, false},
		{"customer:" + strings.Repeat("x", 64) + ":points", ledger.PTS, false},
		{"platform:points:earned:volume", ledger.PTS, true},
		{"platform:points:earned:referral", ledger.PTS, true},
		{"platform:points:earned:feedback", ledger.PTS, true},
		{"platform:points:earned:campaign", ledger.PTS, true},
		{"platform:points:earned:adjustment", ledger.PTS, true},
		{"platform:points:redeemed", ledger.PTS, true},
		{"platform:points:expired", ledger.PTS, true},
		{"platform:cash", ledger.CNY, true},
		{"platform:revenue:shipping", ledger.CNY, true},
		{"platform:rebate:expense", ledger.CNY, true},
	} {
		spec, err := ledger.Chart(tc.code)
		if err != nil || spec.Asset != tc.asset || spec.AllowNegative != tc.negative {
			t.Errorf("Chart(%s) = %+v, %v; want %s, allow negative %v", tc.code, spec, err, tc.asset, tc.negative)
		}
	}
	for _, code := range []string{
		"customer:C1:cash",
		"customer::points", // no customer id
		"customer:C 1:points",
		"customer:a:b:points", // ':' is not part of an id
		"customer:" + strings.Repeat("x", 65) + ":points",
		"customer:C1",
		"platform:points:earned",
		"platform:cash:extra",
		"Platform:cash",
		"",
	} {
		_, err := ledger.Chart(code)
		var e *fault.Error
		if !errors.As(err, &e) || e.Code != fault.UnknownAccount || e.Account != code {
			t.Errorf("Chart(%q) = %v, want unknown_account naming it", code, err)
		}
	}
}

func TestCustomerAccountCodes(t *testing.T) {
	if got := ledger.CustomerAccount("C-7", "rebate"); got != "customer:C-7:rebate" {
		t.Errorf("CustomerAccount = %s", got)
	}
	for _, tc := range []struct {
		code, id string
		ok       bool
	}{
		{"customer:C-7:rebate", "C-7", true},
		{"customer:C1:points", "C1", true},
		{"customer::points", "", false},
		{"customer:points", "", false},
		{"platform:cash", "", false},
	} {
		id, ok := ledger.CustomerOf(tc.code)
		if id != tc.id || ok != tc.ok {
			t.Errorf("CustomerOf(%s) = %q, %v; want %q, %v", tc.code, id, ok, tc.id, tc.ok)
		}
	}
}

// An error message quotes the offending code, cut at 80 characters so that
// no client can make the service echo an unbounded input.
func TestUnknownAccountMessageQuotesAtMost80Characters(t *testing.T) {
	for _, tc := range []struct {
		code, quoted string
	}{
		{"platform:" + strings.Repeat("x", 71), `"platform:` + strings.Repeat("x", 71) + `"`}, // 80 characters, whole
		{"platform:" + strings.Repeat("x", 72), `"platform:` + strings.Repeat("x", 71) + `..."`},
	} {
		_, err := ledger.Chart(tc.code)
		if err == nil || !strings.Contains(err.Error(), " "+tc.quoted+" ") {
			t.Errorf("Chart(%d characters) = %v, want it to quote %s", len(tc.code), err, tc.quoted)
		}
	}
}

func TestAssets(t *testing.T) {
	for _, tc := range []struct {
		asset ledger.Asset
		scale int32
	}{
		{ledger.PTS, 0},
		{ledger.CNY, 2},
		{"USD", 0},
		{"", 0},
	} {
		if got := tc.asset.Scale(); got != tc.scale {
			t.Errorf("%q.Scale() = %d, want %d", tc.asset, got, tc.scale)
		}
	}
	if err := ledger.CNY.CheckScale(d("1.500")); err != nil {
		t.Errorf("1.500 CNY: %v, want accepted (trailing zeros are not decimals)", err)
	}
	wantCode(t, ledger.CNY.CheckScale(d("1.505")), fault.InvalidAmount)
	wantCode(t, ledger.PTS.CheckScale(d("1.5")), fault.InvalidAmount)
}
