package prepaid_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/prepaid"
	"github.com/tally-ledger/tally/rules"
)

// Which rule version prices a deposit: the one in effect when it occurred,
// tested one instant (a microsecond, PostgreSQL's precision) before the
// switch, at it, and after.

// switchAt is the start of version 2 in the tests of rule switches: the
// middle of March, after the test clock's 15 March.
var switchAt = time.Date(2026, 3, 20, 0, 0, 0, 0, shanghai)

// putVersion2 stores the default rules (docs/RULES.md) changed by change as
// version 2, effective from switchAt.
func (e *env) putVersion2(change func(*rules.RuleSet)) {
	e.T.Helper()
	rs := rules.Default()
	change(&rs)
	rs.EffectiveFrom = switchAt
	stored, err := e.Loyalty.PutRules(e.Ctx, rs, "test")
	if err != nil || stored.Version != 2 {
		e.T.Fatalf("put rules: version %d, %v", stored.Version, err)
	}
}

func TestDepositIsPricedByTheRateTableInEffectWhenItOccurred(t *testing.T) {
	e := newEnv(t)
	e.Customer("P")
	// Version 2 pays 1% from 500 CNY and 2.5% from 1,000.
	e.putVersion2(func(rs *rules.RuleSet) {
		rs.Rebates = []rules.RebateTier{{Min: money.Of(d("0")), Rate: d("0")}, {Min: money.Of(d("500")), Rate: d("0.01")},
			{Min: money.Of(d("1000")), Rate: d("0.025")}, {Min: money.Of(d("5000")), Rate: d("0.035")}, {Min: money.Of(d("10000")), Rate: d("0.045")},
			{Min: money.Of(d("50000")), Rate: d("0.055")}}
	})
	deposit := func(id, amount string, at time.Time) prepaid.MoneyMovement {
		t.Helper()
		m, _, err := e.Prepaid.Deposit(e.Ctx, prepaid.MoneyInput{ID: id, CustomerID: "P", Amount: d(amount), OccurredAt: at}, "test")
		if err != nil {
			t.Fatalf("deposit %s: %v", id, err)
		}
		return m
	}
	early := deposit("D-EARLY", "1000", march(15, 11)) // arrives before the switch
	e.Clock.Set(time.Date(2026, 3, 25, 12, 0, 0, 0, shanghai))
	before := deposit("D-BEFORE", "1000", switchAt.Add(-time.Microsecond))
	at := deposit("D-AT", "1000", switchAt)
	after := deposit("D-AFTER", "999.99", time.Date(2026, 3, 21, 9, 0, 0, 0, shanghai))
	late := deposit("D-LATE", "999.99", time.Date(2026, 3, 19, 9, 0, 0, 0, shanghai))

	for _, tc := range []struct {
		m              prepaid.MoneyMovement
		version        int
		rate, rebate   string
		postedRebate   string // on the customer's rebate account; "" for no posting
		recordedRebate string
	}{
		{early, 1, "0.02", "20.00", "20.00", "20.00"},
		{before, 1, "0.02", "20.00", "20.00", "20.00"},
		{at, 2, "0.025", "25.00", "25.00", "25.00"},
		{after, 2, "0.01", "9.99", "9.99", "9.99"}, // 9.9999 rounded down to the fen
		{late, 1, "0", "0", "", "0"},
	} {
		m := tc.m
		if m.RuleVersion != tc.version || !m.Rate.Equal(d(tc.rate)) || !m.Rebate.Equal(d(tc.rebate)) {
			t.Errorf("%s answered v%d rate %s rebate %s, want v%d %s %s", m.ID, m.RuleVersion, m.Rate, m.Rebate, tc.version, tc.rate, tc.rebate)
		}
		var entryVersion, recordedVersion int
		var rate, rebate decimal.Decimal
		var posted *decimal.Decimal
		if err := e.Pool.QueryRow(e.Ctx, `SELECT en.rule_version, m.rule_version, m.rate, m.rebate,
    (SELECT p.amount FROM postings p JOIN accounts a ON a.id = p.account_id
     WHERE p.entry_id = m.entry_id AND a.code = 'customer:P:rebate')
FROM money_movements m JOIN entries en ON en.id = m.entry_id WHERE m.kind = 'deposit' AND m.id = $1`, m.ID).
			Scan(&entryVersion, &recordedVersion, &rate, &rebate, &posted); err != nil {
			t.Fatal(err)
		}
		if entryVersion != tc.version || recordedVersion != tc.version || !rate.Equal(d(tc.rate)) || !rebate.Equal(d(tc.recordedRebate)) {
			t.Errorf("%s in the books: entry v%d, recorded v%d rate %s rebate %s; want v%d %s %s",
				m.ID, entryVersion, recordedVersion, rate, rebate, tc.version, tc.rate, tc.recordedRebate)
		}
		if (posted == nil) != (tc.postedRebate == "") || (posted != nil && !posted.Equal(d(tc.postedRebate))) {
			t.Errorf("%s posted rebate %v, want %q", m.ID, posted, tc.postedRebate)
		}
	}
	// The books: 20 + 20 + 25 + 9.99 of rebate on 4,999.98 of deposits, and
	// March's rebate roll-forward closes at that balance.
	e.WantBalanceOf(t, "customer:P:prepaid", "4999.98")
	e.WantBalanceOf(t, "customer:P:rebate", "74.99")
	total, err := finance.New(e.Ledger, e.Loyalty, e.Prepaid).RebateReport(e.Ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai), time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai),
		func(finance.RebateRow) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !total.Opening.IsZero() || !total.Granted.Equal(d("74.99")) || !total.Deposits.Equal(d("4999.98")) || !total.Closing.Equal(d("74.99")) {
		t.Errorf("March rebate roll-forward %+v, want 0 + 74.99 granted = 74.99 on 4999.98 deposited", total)
	}
	e.Reconcile()
}
