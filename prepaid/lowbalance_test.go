package prepaid_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/notify"
	"github.com/tally-ledger/tally/prepaid"
)

// lowNotice is a prepaid.low_balance notification as read back.
type lowNotice struct {
	Customer string
	Partner  int64
	Payload  prepaid.LowBalanceNotice
}

// lowNotices reads the prepaid.low_balance notifications, oldest first.
func (e *env) lowNotices() []lowNotice {
	e.T.Helper()
	rows, err := e.Pool.Query(e.Ctx, `SELECT customer_id, partner_id, payload FROM notifications
WHERE type = 'prepaid.low_balance' ORDER BY id`)
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	var out []lowNotice
	for rows.Next() {
		var n lowNotice
		var raw []byte
		if err := rows.Scan(&n.Customer, &n.Partner, &raw); err != nil {
			e.T.Fatal(err)
		}
		if err := json.Unmarshal(raw, &n.Payload); err != nil {
			e.T.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		e.T.Fatal(err)
	}
	return out
}

// partner founds a partner of its own (its first key) and returns its id.
func (e *env) partner(name string) int64 {
	e.T.Helper()
	_, k, err := e.Ledger.CreateKey(e.Ctx, name, ledger.RolePartner, "")
	if err != nil {
		e.T.Fatal(err)
	}
	return k.PartnerID
}

func (e *env) threshold(partner int64, amount string) {
	e.T.Helper()
	if _, err := e.Prepaid.SetLowBalanceThreshold(e.Ctx, partner, d(amount), "test"); err != nil {
		e.T.Fatalf("threshold %s for partner %d: %v", amount, partner, err)
	}
}

// booksBalance is the customer's prepaid balance as the books hold it:
// principal and rebate.
func (e *env) booksBalance(customer string) decimal.Decimal {
	e.T.Helper()
	var b [2]decimal.Decimal
	for i, acct := range []string{"prepaid", "rebate"} {
		a, err := e.Ledger.Account(e.Ctx, ledger.CustomerAccount(customer, acct))
		if err != nil {
			e.T.Fatal(err)
		}
		b[i] = a.Balance
	}
	return b[0].Add(b[1])
}

// TestLowBalanceNoticeWhenAMovementCrossesAThreshold: partners set 500,
// 100 and 1,000. A deposit of 1,000 (2% rebate: 20.00) leaves 1,020.00. A
// charge to exactly 500.00 crosses 1,000 only (500 is not below 500); one
// fen more crosses 500; a charge that stays above 100 tells no one, nor
// the partners whose thresholds the balance was already under; a withdrawal
// with its clawback crosses 100. Each notice is for its partner alone, with
// the balance the books hold after the movement.
func TestLowBalanceNoticeWhenAMovementCrossesAThreshold(t *testing.T) {
	e := newEnv(t)
	p500, p100, p1000 := e.Key.PartnerID, e.partner("p100"), e.partner("p1000")
	e.threshold(p500, "500")
	e.threshold(p100, "100.00")
	e.threshold(p1000, "1000")
	e.Customer("C1")
	e.Customer("C2")
	e.MustMoney(prepaid.Deposit, "C1", "1000")
	e.MustMoney(prepaid.Deposit, "C2", "200") // already under 500 and 1,000: never told of them

	steps := []struct {
		kind, amount string
		partners     []int64 // told by this movement
	}{
		{prepaid.Charge, "520", []int64{p1000}},
		{prepaid.Charge, "0.01", []int64{p500}},
		{prepaid.Charge, "100", nil},
		{prepaid.Withdrawal, "300", []int64{p100}},
	}
	var want []lowNotice
	for _, s := range steps {
		m := e.MustMoney(s.kind, "C1", s.amount)
		e.MustMoney(prepaid.Charge, "C2", "10") // 200, 210, ...: C2 stays above 100 throughout
		bal := e.booksBalance("C1")
		for _, p := range s.partners {
			th := map[int64]string{p500: "500.00", p100: "100.00", p1000: "1000.00"}[p]
			want = append(want, lowNotice{Customer: "C1", Partner: p, Payload: prepaid.LowBalanceNotice{
				Balance: bal.StringFixed(2), Threshold: th, Principal: m.Principal.StringFixed(2), Rebate: m.RebateBalance.StringFixed(2),
				Movement: s.kind, MovementID: m.ID, EntryID: m.EntryID}})
		}
		if got := e.lowNotices(); len(got) != len(want) {
			t.Fatalf("after the %s of %s: %d notices %+v, want %+v", s.kind, s.amount, len(got), got, want)
		}
	}
	got := e.lowNotices()
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("notice %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// 1,020 - 520 - 0.01 - 100 = 399.99 in principal 379.99 and rebate
	// 20; withdrawing 300 claws back 20 × 300 / 379.99 = 15.79 (rounded
	// up), leaving 79.99 + 4.21 = 84.20.
	if got[2].Payload.Balance != "84.20" {
		t.Errorf("after the withdrawal: balance %s, want 84.20", got[2].Payload.Balance)
	}

	// A replay of the withdrawal tells no one again.
	in := prepaid.MoneyInput{ID: got[2].Payload.MovementID, CustomerID: "C1", Amount: d("300"),
		OccurredAt: e.Clock.Now().Add(-60e9), ShipmentID: "S1"}
	if _, replayed, err := e.Prepaid.Withdraw(e.Ctx, in, "test"); err != nil || !replayed {
		t.Fatalf("replay: replayed %v, %v", replayed, err)
	}
	if n := len(e.lowNotices()); n != 3 {
		t.Errorf("%d notices after a replay, want 3", n)
	}

	// Each partner's feed holds its own notices and no other partner's.
	for _, p := range []int64{p500, p100, p1000} {
		list, _, err := notify.Feed(e.Ctx, e.Ledger, notify.Cursor{}, 100, notify.Filter{Types: []string{notify.PrepaidLowBalance}, Partner: p})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Partner != p || list[0].Customer != "C1" {
			t.Errorf("partner %d's feed: %+v, want its one notice", p, list)
		}
	}
}

// TestLowBalanceNoticeOnceWhenChargesRace: sixteen charges of 40 at once
// on 1,020.00 cross a threshold of 500 once: the charge that takes 500.00
// to 460.00 tells the partner, and no other.
func TestLowBalanceNoticeOnceWhenChargesRace(t *testing.T) {
	e := newEnv(t)
	e.threshold(e.Key.PartnerID, "500")
	e.Customer("C1")
	e.MustMoney(prepaid.Deposit, "C1", "1000")
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Money(prepaid.Charge, "C1", "40"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if b := e.booksBalance("C1"); !b.Equal(d("380")) {
		t.Fatalf("balance %s, want 1,020 - 16 × 40 = 380", b)
	}
	got := e.lowNotices()
	if len(got) != 1 || got[0].Payload.Balance != "460.00" || got[0].Partner != e.Key.PartnerID {
		t.Errorf("notices %+v, want one, at 460.00", got)
	}
}

func TestLowBalanceThresholdIsACNYAmountOfAKnownPartner(t *testing.T) {
	e := newEnv(t)
	p := e.Key.PartnerID
	th, err := e.Prepaid.LowBalanceThreshold(e.Ctx, p)
	if err != nil || !th.Threshold.IsZero() || th.UpdatedAt != nil {
		t.Errorf("never set: %+v %v, want 0 and no time", th, err)
	}
	for _, tc := range []struct {
		amount string
		code   fault.Code
	}{{"-0.01", fault.Invalid}, {"1000000000000.01", fault.Invalid}, {"0.001", fault.InvalidAmount}} {
		_, err := e.Prepaid.SetLowBalanceThreshold(e.Ctx, p, d(tc.amount), "test")
		servicetest.WantCode(t, err, tc.code)
	}
	_, err = e.Prepaid.SetLowBalanceThreshold(e.Ctx, p+1000, d("10"), "test")
	servicetest.WantCode(t, err, fault.NotFound)
	_, err = e.Prepaid.LowBalanceThreshold(e.Ctx, p+1000)
	servicetest.WantCode(t, err, fault.NotFound)
	if n := e.TableRows("low_balance_thresholds"); n != 0 {
		t.Errorf("refused thresholds wrote %d rows", n)
	}
	e.threshold(p, "250.5")
	th, err = e.Prepaid.LowBalanceThreshold(e.Ctx, p)
	if err != nil || !th.Threshold.Equal(d("250.50")) || th.UpdatedAt == nil || !th.UpdatedAt.Equal(e.Clock.Now()) {
		t.Errorf("set: %+v %v, want 250.50 at %s", th, err, e.Clock.Now())
	}
}
