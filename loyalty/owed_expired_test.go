package loyalty_test

import (
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/pricemodel"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// A redemption cancelled after the lots it drew from expired puts its
// points back expired. What a refund could not take back because those
// points were spent, they settle still: had the redemption not been, the
// refund would have taken them back before they expired. Points that had
// expired before the refund settle nothing: the refund could not have
// taken them either.

// april2027 is a day after the lots of points earned in March 2026 expire
// (2027-04-01T00:00:00+08:00).
var april2027 = time.Date(2027, 4, 2, 10, 0, 0, 0, shanghai)

func (e *env) expire(t *testing.T) int64 {
	t.Helper()
	rep, err := e.Loyalty.Expire(e.Ctx, e.Clock.Now(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep.Points
}

func TestPointsReturnedExpiredSettleWhatTheRedemptionLeftOwed(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // floating x1.0: 100 points, expiring 2027-04-01
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90})
	r, err := e.Redeem("C1", "mug", 1)
	if err != nil {
		t.Fatal(err)
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(15, 9)))
	e.wantPoints(t, "C1", 0, 90)

	e.Clock.Set(april2027)
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	// The 90 points came back into the lot that expired, and settled the 90
	// owed: the refund is whole, and nothing is left to expire.
	e.wantPoints(t, "C1", 0, 0)
	if got := e.owedRows("C1"); !slices.Equal(got, []owedRow{{100, 90, 90}}) {
		t.Errorf("points_owed %v, want the refund's 90 settled", got)
	}
	if got := e.expire(t); got != 0 {
		t.Errorf("the expiry run took %d points, want none", got)
	}
	e.WantBalanceOf(t, "platform:points:earned:volume", "0")
	want := []string{
		"90 points settle what refunds could not take back (90 for shipment S1), from points returned after they expired",
		"90 points returned: redemption cancelled (late)",
	}
	if got := e.statementLines("C1")[:2]; !slices.Equal(got, want) {
		t.Errorf("statement\n%s", servicetest.DiffLines(got, want))
	}
	e.Reconcile()
}

// Of two lots, the one that expired settles first: the refund would have
// taken the points that expire soonest. The lot still available keeps
// what the expired one could settle.
func TestPointsReturnedExpiredSettleBeforeAvailableOnes(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // 100 points, expiring 2027-04-01
	e.Clock.Set(time.Date(2026, 4, 10, 12, 0, 0, 0, shanghai))
	s2 := e.Ship("C1", "S2", "100", time.Date(2026, 4, 2, 9, 0, 0, 0, shanghai)) // expiring 2027-05-01
	if s2.Points <= 50 {
		t.Fatalf("S2 earned %d points; the test needs more than 50", s2.Points)
	}
	e.Product(catalog.Product{SKU: "lamp", Name: "Lamp", Kind: catalog.Standard, PointsPrice: 150})
	r, err := e.Redeem("C1", "lamp", 1) // 100 from the March lot, 50 from April's
	if err != nil {
		t.Fatal(err)
	}
	left := 100 + s2.Points - 150
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "100", time.Date(2026, 4, 10, 9, 0, 0, 0, shanghai)))
	owed := s2.Points - left
	e.wantPoints(t, "C1", 0, owed)

	e.Clock.Set(april2027)
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	// The March lot gets 100 back, expired; April's gets 50, available. The
	// expired points settle what is owed; April's 50 stay the customer's.
	e.wantPoints(t, "C1", 150-owed, 0)
	if p := e.Balances(t, "C1").Points; p.Available != 50 {
		t.Errorf("available %d, want April's 50", p.Available)
	}
	if got := e.expire(t); got != 100-owed {
		t.Errorf("the expiry run took %d points, want the %d the debt left of the March lot", got, 100-owed)
	}
	e.wantPoints(t, "C1", 50, 0)
	e.Reconcile()
}

// Points of a lot that had expired when the refund came settle nothing:
// the refund could not have taken them either, so the debt stays and the
// points expire.
func TestPointsExpiredBeforeTheRefundSettleNothing(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // 100 points, expiring 2027-04-01
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90})
	r, err := e.Redeem("C1", "mug", 1)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(april2027)
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", april2027.Add(-time.Hour)))
	e.wantPoints(t, "C1", 10, 100) // the 10 left are expired: nothing available to take back
	e.Clock.Add(time.Hour)
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	e.wantPoints(t, "C1", 100, 100)
	if got := e.expire(t); got != 100 {
		t.Errorf("the expiry run took %d points, want 100", got)
	}
	e.wantPoints(t, "C1", 0, 100)
	e.Reconcile()
}

// A debt older than the redemption (left open by a hand correction of the
// points_owed account, which forgave it there but not on its row) is not
// the redemption's doing: points it returns expired settle nothing of it,
// nor, through the account's bound, of the newer debt, whose refund came
// after they expired. (Found by review: before, the old row let the
// expired points pay the new debt.)
func TestPointsReturnedExpiredSettleNoDebtOlderThanTheRedemption(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9))
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 100})
	if _, err := e.Redeem("C1", "mug", 1); err != nil {
		t.Fatal(err)
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(2, 9)))
	e.wantPoints(t, "C1", 0, 100)
	if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "ops", Reason: "goodwill",
		Postings: []ledger.PostingInput{
			{Account: ledger.CustomerAccount("C1", "points_owed"), Amount: decimal.NewFromInt(100)},
			{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-100)},
		}}); err != nil {
		t.Fatal(err)
	}
	e.wantPoints(t, "C1", 0, 0)

	e.Clock.Set(time.Date(2026, 4, 10, 12, 0, 0, 0, shanghai))
	s2 := e.Ship("C1", "S2", "100", time.Date(2026, 4, 2, 9, 0, 0, 0, shanghai)) // expiring 2027-05-01
	e.Product(catalog.Product{SKU: "s2", Name: "All of S2", Kind: catalog.Standard, PointsPrice: s2.Points})
	r, err := e.Redeem("C1", "s2", 1)
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(time.Date(2027, 5, 2, 12, 0, 0, 0, shanghai))
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "100", time.Date(2027, 5, 2, 11, 0, 0, 0, shanghai)))
	e.wantPoints(t, "C1", 0, s2.Points)
	e.Clock.Add(time.Hour)
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	e.wantPoints(t, "C1", s2.Points, s2.Points)
	if got := e.expire(t); got != s2.Points {
		t.Errorf("the expiry run took %d points, want %d", got, s2.Points)
	}
	e.BreaksBooks("the hand correction forgives on the account what the refund's row still owes (owed_within_due)")
}

// A referral bonus's cancellation takes back what is left of the bonus's
// own lot: points a cancelled redemption returns there, expired since the
// refund, settle what the referrer owes for it.
func TestPointsReturnedExpiredToABonusLotSettleItsDebt(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	e.Clock.Set(march(10, 12))
	e.Ship("E", "SE", "80", march(10, 9)) // R's bonus, pending until March 24
	bonus := e.Balances(t, "R").Points.Pending
	if bonus <= 90 {
		t.Fatalf("R's pending bonus is %d; the test needs more than 90", bonus)
	}
	e.Product(catalog.Product{SKU: "hat", Name: "Hat", Kind: catalog.Standard, PointsPrice: bonus - 90})
	e.Clock.Set(march(25, 9))
	r, err := e.Redeem("R", "hat", 1)
	if err != nil {
		t.Fatal(err)
	}
	// The referee's full refund, dated inside the window, arrives after it:
	// the 90 left of the bonus are taken back, the rest owed.
	e.Clock.Set(march(26, 9))
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "E", "SE", "80", march(23, 9)))
	e.wantPoints(t, "R", 0, bonus-90)

	e.Clock.Set(april2027) // the bonus's lot, earned in March 2026, expired
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	e.wantPoints(t, "R", 0, 0)
	if got := e.expire(t); got != 0 {
		t.Errorf("the expiry run took %d points, want none", got)
	}
	e.Reconcile()
}

// The settlement draws from the very lots whose points settle: here the
// lot that expired after the refund, not an older expired lot the
// customer also holds.
func TestASettlementFromExpiredPointsDrawsFromTheLotsThatSettle(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // lot A, expiring 2027-04-01
	e.Clock.Set(time.Date(2026, 4, 10, 12, 0, 0, 0, shanghai))
	s2 := e.Ship("C1", "S2", "100", time.Date(2026, 4, 2, 9, 0, 0, 0, shanghai)) // lot B, expiring 2027-05-01
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 100})
	e.Product(catalog.Product{SKU: "s2", Name: "All of S2", Kind: catalog.Standard, PointsPrice: s2.Points})
	r0, err := e.Redeem("C1", "mug", 1) // all of A
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Redeem("C1", "s2", 1) // all of B
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(april2027) // A expired: its 100 come back expired, nothing owed
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r0.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "100", april2027.Add(-time.Hour)))
	e.wantPoints(t, "C1", 100, s2.Points)
	e.Clock.Set(time.Date(2027, 5, 2, 12, 0, 0, 0, shanghai)) // B expired, after the refund
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	e.wantPoints(t, "C1", 100, 0)
	e.WantLots(t, "C1", "2027-04-01:100", "2027-05-01:0")
	e.Reconcile()
}

// A referral bonus whose shipment is dated more than the pending window
// back is available at once, so it goes into the referrer's shared lot;
// its cancellation takes back from that lot, and points returned there
// expired settle its debt too, as the model says. (Found by review: the
// lookup of the bonus's lot knew only lots of their own.)
func TestPointsReturnedExpiredToASharedBonusLotSettleItsDebt(t *testing.T) {
	e := newEnv(t)
	model := pricemodel.NewBooks(pricemodel.Default())
	e.Customer("R")
	e.Customer("E", "R")
	model.AddCustomer("R", "")
	model.AddCustomer("E", "R")
	both := func(ev loyalty.Event) {
		t.Helper()
		now := e.Clock.Now()
		a := model.Process(modelEvent(ev), now)
		if a.Refused != "" {
			t.Fatalf("model refused %s: %s", ev.Type, a.Refused)
		}
		e.MustProcess(ev)
	}

	e.Clock.Set(march(20, 12))
	// Dated 19 days back: the bonus's available_at (March 15) is already past,
	// so the bonus is credited into R's shared lot of 2027-04-01.
	both(e.Event(loyalty.ShipmentCompleted, "E", "SE", "80", march(1, 9)))
	bonus := e.Balances(t, "R").Points.Available
	if bonus <= 0 {
		t.Fatalf("R holds %d available points; want the bonus", bonus)
	}
	var shared bool
	e.Scan(t, `SELECT bool_and(l.shared) FROM points_lots l JOIN accounts a ON a.id = l.account_id WHERE a.code = 'customer:R:points'`, &shared)
	if !shared {
		t.Fatalf("R's bonus is not in a shared lot: the test needs it there")
	}

	e.Product(catalog.Product{SKU: "hat", Name: "Hat", Kind: catalog.Standard, PointsPrice: bonus})
	r, err := e.Redeem("R", "hat", 1)
	if err != nil {
		t.Fatal(err)
	}
	if code := model.Redeem(r.ID, "R", bonus, e.Clock.Now()); code != "" {
		t.Fatalf("model redeem: %s", code)
	}
	// The referee's full refund, dated inside the pending window.
	e.Clock.Set(march(21, 12))
	both(e.Event(loyalty.ShipmentRefunded, "E", "SE", "80", march(5, 9)))
	e.wantPoints(t, "R", 0, bonus)

	e.Clock.Set(time.Date(2027, 4, 2, 10, 0, 0, 0, shanghai)) // the lot expired
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "late", "test"); err != nil {
		t.Fatal(err)
	}
	if code := model.CancelRedemption(r.ID, e.Clock.Now()); code != "" {
		t.Fatalf("model cancel: %s", code)
	}
	if d := e.balancesDiffer(model); d != "" {
		t.Errorf("the books differ from the model:\n%s", d)
	}
	e.wantPoints(t, "R", 0, 0) // the model's answer
}
