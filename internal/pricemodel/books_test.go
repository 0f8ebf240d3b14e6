package pricemodel

import (
	"fmt"
	"testing"
	"time"
)

type bookTest struct {
	t   *testing.T
	b   *Books
	now time.Time
	seq int
}

func newBooks(t *testing.T, customers ...[2]string) *bookTest {
	bt := &bookTest{t: t, b: NewBooks(Default()), now: time.Date(2026, 3, 31, 12, 0, 0, 0, shanghai)}
	for _, c := range customers {
		bt.b.AddCustomer(c[0], c[1])
	}
	return bt
}

func (bt *bookTest) event(typ, customer, shipment, amount string, at time.Time) Answer {
	bt.seq++
	ev := Event{ID: fmt.Sprint("e", bt.seq), Type: typ, Customer: customer, Shipment: shipment, At: at}
	if amount != "" {
		a := d(amount)
		ev.Amount = &a
	}
	if typ == FeedbackSubmitted {
		ev.Rating = new(int)
		*ev.Rating = 5
	}
	return bt.b.Process(ev, bt.now)
}

func (bt *bookTest) balance(code string, want int64) {
	bt.t.Helper()
	if got := bt.b.Balances()[code]; got != want {
		bt.t.Errorf("%s = %d, want %d", code, got, want)
	}
}

func march(day int) time.Time { return time.Date(2026, 3, day, 10, 0, 0, 0, shanghai) }

// The domain's running example: a mid customer's 123.45 shipment earns 148,
// a refund of 23.45 takes back 28.
func TestBooksMidCustomerShipmentAndPartialRefund(t *testing.T) {
	bt := newBooks(t, [2]string{"C", ""})
	feb := bt.event(ShipmentCompleted, "C", "S0", "5000", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
	if *feb.Tier != (Tier{"floating", 1}) || feb.Points != 5000 {
		t.Fatalf("February: %+v %d", feb.Tier, feb.Points)
	}
	a := bt.event(ShipmentCompleted, "C", "S1", "123.45", march(10))
	if *a.Tier != (Tier{"mid", 11}) || a.Points != 148 || a.Contribution.Month != "2026-03" || !a.Contribution.After.Equal(d("123.45")) {
		t.Fatalf("March: %+v %d %+v", a.Tier, a.Points, a.Contribution)
	}
	r := bt.event(ShipmentRefunded, "C", "S1", "23.45", march(11))
	if r.Refund.TakenBack != 28 || r.Points != -28 || !r.Contribution.After.Equal(d("100")) {
		t.Fatalf("refund: %+v %+v", r.Refund, r.Contribution)
	}
	bt.balance("customer:C:points", 5000+148-28)
	bt.balance("platform:points:earned:volume", -(5000 + 148 - 28))
}

// A refund takes back what the customer still holds; the rest is owed and
// settled by the points the cancelled redemption returns; the take-backs of
// a shipment never exceed what it earned.
func TestBooksRefundTakesBackWhatIsHeldAndTheRestIsOwed(t *testing.T) {
	bt := newBooks(t, [2]string{"C", ""})
	bt.event(ShipmentCompleted, "C", "S1", "100", march(1))
	if code := bt.b.Redeem("r1", "C", 90, bt.now); code != "" {
		t.Fatal(code)
	}
	r := bt.event(ShipmentRefunded, "C", "S1", "50", march(2))
	if r.Refund.Due != 50 || r.Refund.TakenBack != 10 || r.Refund.Owed != 40 {
		t.Fatalf("refund %+v, want 50 due, 10 taken and 40 owed", r.Refund)
	}
	bt.balance("customer:C:points_owed", -40)
	bt.balance("platform:points:earned:volume", -50)
	if code := bt.b.CancelRedemption("r1", bt.now); code != "" {
		t.Fatal(code)
	}
	// The 90 returned settle the 40 owed.
	bt.balance("customer:C:points", 50)
	bt.balance("customer:C:points_owed", 0)
	r = bt.event(ShipmentRefunded, "C", "S1", "50", march(3))
	if r.Refund.TakenBack != 50 || r.Refund.Owed != 0 {
		t.Fatalf("second refund %+v, want 50 taken", r.Refund)
	}
	bt.balance("customer:C:points", 0)
	bt.balance("platform:points:earned:volume", 0)
	if r := bt.event(ShipmentRefunded, "C", "S1", "0.01", march(4)); r.Refused != CodeRefundExceeds {
		t.Fatalf("a refund past the amount: %+v", r)
	}
}

// The referral rules: the first shipment of at least 50 pays 500, once,
// pending 14 days; a full refund inside the window cancels it; past 20 paid
// bonuses in a month, further ones are capped.
func TestBooksReferralBonus(t *testing.T) {
	bt := newBooks(t, [2]string{"R", ""}, [2]string{"F", "R"})
	if a := bt.event(ShipmentCompleted, "F", "S1", "49.99", march(1)); a.Referral != nil {
		t.Fatalf("49.99 qualified: %+v", a.Referral)
	}
	a := bt.event(ShipmentCompleted, "F", "S2", "50", march(2))
	if a.Referral == nil || a.Referral.Status != "pending" || a.Referral.Points != 500 ||
		!a.Referral.AvailableAt.Equal(time.Date(2026, 3, 16, 10, 0, 0, 0, shanghai)) {
		t.Fatalf("referral %+v", a.Referral)
	}
	if a := bt.event(ShipmentCompleted, "F", "S3", "500", march(3)); a.Referral != nil {
		t.Fatalf("paid twice: %+v", a.Referral)
	}
	bt.balance("customer:R:points", 500)
	available := a.Referral.AvailableAt
	if bt.b.Redeem("r1", "R", 1, available.Add(-time.Nanosecond)) != CodeInsufficientPoints || bt.b.Redeem("r2", "R", 500, available) != "" {
		t.Fatal("the bonus is spendable before its window ends, or not when it ends")
	}
	bt.b.CancelRedemption("r2", bt.now)
	// A full refund that occurred inside the window, arriving after it.
	c := bt.event(ShipmentRefunded, "F", "S2", "50", available.Add(-time.Nanosecond))
	if c.Referral == nil || c.Referral.Status != "cancelled" || c.Referral.Points != -500 {
		t.Fatalf("full refund inside the window: %+v", c.Referral)
	}
	bt.balance("customer:R:points", 0)
	bt.balance("platform:points:earned:referral", 0)

	// The cap: 20 paid in March, the 21st capped; a cancelled one is no
	// longer paid, so the next one is paid again.
	bt = newBooks(t, [2]string{"R", ""})
	for i := range 22 {
		bt.b.AddCustomer(fmt.Sprint("F", i), "R")
	}
	for i := range 21 {
		a := bt.event(ShipmentCompleted, fmt.Sprint("F", i), fmt.Sprint("S", i), "60", march(1+i))
		want := "pending"
		if i == 20 {
			want = "capped"
		}
		if a.Referral == nil || a.Referral.Status != want {
			t.Fatalf("referee %d: %+v, want %s", i, a.Referral, want)
		}
	}
	bt.event(ShipmentRefunded, "F19", "S19", "60", march(25))
	if a := bt.event(ShipmentCompleted, "F21", "S21", "60", march(26)); a.Referral.Status != "pending" {
		t.Fatalf("after a cancellation: %+v", a.Referral)
	}
	if a := bt.event(ShipmentCompleted, "F20", "S22", "60", march(27)); a.Referral != nil {
		t.Fatalf("a capped referee qualified again: %+v", a.Referral)
	}
	bt.balance("customer:R:points", 20*500)
}

// Feedback is 10 points once per shipment; events are recorded once per id.
func TestBooksFeedbackAndIdempotency(t *testing.T) {
	bt := newBooks(t, [2]string{"C", ""})
	bt.event(ShipmentCompleted, "C", "S1", "10", march(1))
	if a := bt.event(FeedbackSubmitted, "C", "S1", "", march(2)); a.Points != 10 || a.Feedback != 10 {
		t.Fatalf("feedback %+v", a)
	}
	if a := bt.event(FeedbackSubmitted, "C", "S1", "", march(3)); a.Refused != CodeAlreadyRated {
		t.Fatalf("second feedback %+v", a)
	}
	if a := bt.event(FeedbackSubmitted, "C", "S9", "", march(3)); a.Refused != CodeUnknownShipment {
		t.Fatalf("feedback on no shipment %+v", a)
	}
	amount := d("20")
	ev := Event{ID: "x", Type: ShipmentCompleted, Customer: "C", Shipment: "S2", At: march(4), Amount: &amount}
	first := bt.b.Process(ev, bt.now)
	again := bt.b.Process(ev, bt.now)
	if first.Replayed || !again.Replayed || again.Points != first.Points {
		t.Fatalf("first %+v, retry %+v", first, again)
	}
	ev.At = ev.At.Add(time.Minute)
	if a := bt.b.Process(ev, bt.now); a.Refused != CodeIdempotencyConflict {
		t.Fatalf("another body under the same id: %+v", a)
	}
	ev.ID = "y"
	if a := bt.b.Process(ev, bt.now); a.Refused != CodeDuplicateShipment {
		t.Fatalf("a shipment completed twice: %+v", a)
	}
	bt.balance("customer:C:points", 10+10+20)
}

// Lots expire at the end of the 12th month after; expired points cannot be
// spent; redemptions take the soonest-expiring lots, and a cancellation puts
// the points back into the lots they came from.
func TestBooksLotsExpireAndRedemptionsDrawSoonestFirst(t *testing.T) {
	bt := newBooks(t, [2]string{"C", ""})
	bt.event(ShipmentCompleted, "C", "S1", "100", time.Date(2026, 1, 15, 10, 0, 0, 0, shanghai)) // expires 2027-02-01
	bt.event(ShipmentCompleted, "C", "S2", "100", march(1))                                      // expires 2027-04-01
	if code := bt.b.Redeem("r1", "C", 150, bt.now); code != "" {
		t.Fatal(code)
	}
	edge := time.Date(2027, 2, 1, 0, 0, 0, 0, shanghai)
	if code := bt.b.Redeem("r2", "C", 51, edge); code != CodeInsufficientPoints {
		t.Fatalf("spent an expired point: %q", code)
	}
	if p, n := bt.b.Expire(edge.Add(-time.Nanosecond)); p != 0 || n != 0 {
		t.Fatalf("expired %d points of %d customers an instant early", p, n)
	}
	if p, n := bt.b.Expire(edge); p != 0 || n != 0 {
		t.Fatalf("expired %d points of %d customers: the first lot was spent", p, n)
	}
	bt.b.CancelRedemption("r1", bt.now) // 100 back into the first lot, 50 into the second
	if p, n := bt.b.Expire(edge); p != 100 || n != 1 {
		t.Fatalf("expired %d points of %d customers, want 100 of 1", p, n)
	}
	bt.balance("customer:C:points", 100)
	bt.balance("platform:points:expired", 100)
	var sum int64
	for _, v := range bt.b.Balances() {
		sum += v
	}
	if sum != 0 {
		t.Errorf("balances sum to %d", sum)
	}
}
