package loyalty_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

func TestMidTierCustomerEarnsTimesOnePointTwo(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	// February's 5,000 makes C1 mid-tier (L11) for March.
	feb := e.Ship("C1", "S0", "5000", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai))
	if feb.Tier.Segment != "floating" || feb.Earning.Points != 5000 {
		t.Errorf("February shipment: %+v, %+v; want floating x1.0 = 5000", feb.Tier, feb.Earning)
	}
	res := e.Ship("C1", "S1", "123.45", march(10, 9))
	if res.Tier.Segment != "mid" || res.Tier.Level != 11 {
		t.Errorf("tier %+v, want mid L11 from February", res.Tier)
	}
	if res.Earning.Points != 148 || !res.Earning.Multiplier.Equal(d("1.2")) || res.Earning.Campaign != nil {
		t.Errorf("earning %+v, want 148 at x1.2 without campaign", res.Earning)
	}
	if res.RuleVersion != 1 || res.EntryID == nil {
		t.Errorf("rule version %d entry %v", res.RuleVersion, res.EntryID)
	}
	entry, err := e.Ledger.Entry(e.Ctx, *res.EntryID)
	if err != nil {
		t.Fatal(err)
	}
	if entry.RuleVersion == nil || *entry.RuleVersion != 1 || !entry.EffectiveAt.Equal(march(10, 9)) {
		t.Errorf("entry rule version %v effective %s", entry.RuleVersion, entry.EffectiveAt)
	}
	if p := e.Points("C1"); p.Balance != 5148 || p.Available != 5148 {
		t.Errorf("points %+v, want 5148", p)
	}
	prof := e.Profile(t, "C1")
	if prof.Segment != "mid" || prof.Level != 11 || prof.TierBasis != rules.BasisLastMonth ||
		!prof.LastMonth.Amount.Equal(d("5000")) || !prof.ThisMonth.Amount.Equal(d("123.45")) {
		t.Errorf("profile %+v", prof)
	}
	// mid L12 from 2000 + 3*8000/7 = 5428.58; this month has 123.45.
	if prof.NextLevel == nil || prof.NextLevel.Level != 12 || !prof.NextLevel.Needed.Equal(d("5305.13")) {
		t.Errorf("next level %+v, want L12 needing 5305.13", prof.NextLevel)
	}
	if prof.NextSegment == nil || prof.NextSegment.Segment != "vip" || !prof.NextSegment.Needed.Equal(d("9876.55")) {
		t.Errorf("next segment %+v, want vip needing 9876.55", prof.NextSegment)
	}
	e.Reconcile()
}

func TestUpgradeIsImmediateWithinTheMonth(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	first := e.Ship("C1", "S1", "2000", march(1, 9))
	second := e.Ship("C1", "S2", "100", march(2, 9))
	if first.Tier.Segment != "floating" || first.Earning.Points != 2000 {
		t.Errorf("first shipment %+v %d, want floating 2000", first.Tier, first.Earning.Points)
	}
	if second.Tier.Segment != "mid" || second.Earning.Points != 120 {
		t.Errorf("second shipment %+v %d, want mid 120", second.Tier, second.Earning.Points)
	}
}

func TestLateEventsCountTowardTheMonthTheyOccurredIn(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	// 2026-01-31T20:00Z is 1 February 04:00 in Shanghai.
	res := e.Ship("C1", "S1", "300", time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC))
	if res.Contribution.Month != "2026-02" {
		t.Errorf("contribution month %s, want 2026-02", res.Contribution.Month)
	}
	// February's 300 (regular) sets March's tier.
	if got := e.Ship("C1", "S2", "10", march(5, 9)); got.Tier.Segment != "regular" {
		t.Errorf("March tier %+v, want regular from February", got.Tier)
	}
}

func TestCampaignsHighestWinsAndNeverStack(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	for _, c := range []struct {
		id, mult string
		segments []string
	}{{"spring", "1.5", nil}, {"double", "2", nil}, {"vip-triple", "3", []string{"vip"}}} {
		_, _, err := e.createCampaignAhead(loyalty.Campaign{Name: c.id, Campaign: rules.Campaign{
			ID: c.id, StartsAt: march(1, 0), EndsAt: march(31, 0), Multiplier: d(c.mult), Segments: c.segments}})
		if err != nil {
			t.Fatal(err)
		}
	}
	res := e.Ship("C1", "S1", "123.45", march(10, 9))
	if res.Earning.Campaign == nil || *res.Earning.Campaign != "double" || res.Earning.Points != 246 ||
		res.Earning.Volume != 123 || res.Earning.CampaignPoints != 123 {
		t.Errorf("earning %+v, want double: floor(246.9) = 246 (123 volume + 123 campaign)", res.Earning)
	}
	e.Clock.Set(time.Date(2026, 4, 2, 12, 0, 0, 0, shanghai))
	outside := e.Ship("C1", "S2", "100", time.Date(2026, 4, 2, 9, 0, 0, 0, shanghai))
	if outside.Earning.Campaign != nil {
		t.Errorf("campaign %v applied after its window", *outside.Earning.Campaign)
	}
	// Each entry records the campaign that priced it, and only then.
	for _, c := range []struct {
		res                  loyalty.Result
		campaign, multiplier any
	}{{res, "double", "2"}, {outside, nil, nil}} {
		var meta map[string]any
		if err := json.Unmarshal(e.Entry(*c.res.EntryID).Metadata, &meta); err != nil {
			t.Fatal(err)
		}
		if meta["campaign"] != c.campaign || meta["campaign_multiplier"] != c.multiplier {
			t.Errorf("%s's entry records campaign %v × %v, want %v × %v", c.res.ShipmentID,
				meta["campaign"], meta["campaign_multiplier"], c.campaign, c.multiplier)
		}
	}
	e.Reconcile()

	t.Run("Conflicts", func(t *testing.T) {
		_, created, err := e.Loyalty.CreateCampaign(e.Ctx, loyalty.Campaign{Name: "double", Campaign: rules.Campaign{
			ID: "double", StartsAt: march(1, 0), EndsAt: march(31, 0), Multiplier: d("2")}})
		if err != nil || created {
			t.Errorf("same campaign again: created=%v err=%v, want a no-op", created, err)
		}
		_, _, err = e.createCampaignAhead(loyalty.Campaign{Name: "double", Campaign: rules.Campaign{
			ID: "double", StartsAt: march(1, 0), EndsAt: march(31, 0), Multiplier: d("2.5")}})
		servicetest.WantCode(t, err, fault.CampaignConflict)
		_, _, err = e.createCampaignAhead(loyalty.Campaign{Name: "x", Campaign: rules.Campaign{
			ID: "bad", StartsAt: march(2, 0), EndsAt: march(1, 0), Multiplier: d("2")}})
		servicetest.WantCode(t, err, fault.Invalid)
		_, _, err = e.createCampaignAhead(loyalty.Campaign{Name: "x", Campaign: rules.Campaign{
			ID: "bad", StartsAt: march(1, 0), EndsAt: march(2, 0), Multiplier: d("2"), Segments: []string{"gold"}}})
		servicetest.WantCode(t, err, fault.Invalid)
	})
}

func TestReferralBonusIsPendingForTheReturnWindow(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	if res := e.Ship("E", "S1", "49.99", march(1, 9)); res.Referral != nil {
		t.Errorf("a 49.99 shipment qualified: %+v", res.Referral)
	}
	res := e.Ship("E", "S2", "50", march(2, 9))
	if res.Referral == nil || res.Referral.Status != "pending" || res.Referral.Points != 500 ||
		!res.Referral.AvailableAt.Equal(march(16, 9)) {
		t.Fatalf("referral %+v, want 500 pending until 16 March 09:00", res.Referral)
	}
	if again := e.Ship("E", "S3", "500", march(3, 9)); again.Referral != nil {
		t.Errorf("a second qualifying shipment paid again: %+v", again.Referral)
	}
	if p := e.Points("R"); p.Balance != 500 || p.Pending != 500 || p.Available != 0 {
		t.Errorf("referrer points %+v, want 500 pending", p)
	}
	e.Clock.Set(march(16, 9))
	if p := e.Points("R"); p.Pending != 0 || p.Available != 500 {
		t.Errorf("after the window: %+v, want 500 available", p)
	}
	e.Reconcile()
}

func TestReferralMonthlyCap(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	for i := range 21 {
		id := fmt.Sprintf("E%02d", i)
		e.Customer(id, "R")
		res := e.Ship(id, "S"+id, "60", march(2, 9))
		want := "pending"
		if i == 20 {
			want = "capped"
		}
		if res.Referral == nil || res.Referral.Status != want {
			t.Errorf("referee %d: %+v, want %s", i, res.Referral, want)
		}
	}
	e.wantReferrerCapped(t, "R")
	// A new month, a new cap.
	e.Clock.Set(time.Date(2026, 4, 2, 12, 0, 0, 0, shanghai))
	e.Customer("April", "R")
	if res := e.Ship("April", "SA", "60", time.Date(2026, 4, 1, 9, 0, 0, 0, shanghai)); res.Referral == nil ||
		res.Referral.Status != "pending" {
		t.Errorf("April referral %+v, want pending", res.Referral)
	}
}

func TestFeedbackOncePerShipment(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.Ship("C1", "S1", "10", march(1, 9))
	rate := func(customer, shipment string, rating int) (loyalty.Result, error) {
		ev := e.Event(loyalty.FeedbackSubmitted, customer, shipment, "", march(2, 9))
		ev.Rating = &rating
		return e.Process(ev)
	}
	res, err := rate("C1", "S1", 5)
	if err != nil || res.Points != 10 || res.Feedback.Points != 10 {
		t.Fatalf("feedback: %+v %v, want 10 points", res, err)
	}
	_, err = rate("C1", "S1", 4)
	servicetest.WantCode(t, err, fault.AlreadyRated)
	_, err = rate("C1", "S9", 4)
	servicetest.WantCode(t, err, fault.UnknownShipment)
	_, err = rate("C2", "S1", 4) // someone else's shipment
	servicetest.WantCode(t, err, fault.UnknownShipment)
	_, err = rate("C1", "S1", 6)
	servicetest.WantCode(t, err, fault.Invalid)
	if p := e.Points("C1"); p.Balance != 20 {
		t.Errorf("points %d, want 10 + 10", p.Balance)
	}
}

func TestRefundTakesBackInProportion(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S0", "5000", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai)) // mid for March
	e.Ship("C1", "S1", "123.45", march(10, 9))                               // 148 points
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "23.45", march(11, 9)))
	if res.Refund.PointsTakenBack != 28 || res.Refund.PointsOwed != 0 || res.Points != -28 {
		t.Errorf("refund %+v, want 28 taken back (round 28.11)", res.Refund)
	}
	if res.Contribution.Month != "2026-03" || !res.Contribution.After.Equal(d("100")) {
		t.Errorf("contribution %+v, want March down to 100", res.Contribution)
	}
	if p := e.Points("C1"); p.Balance != 5000+148-28 {
		t.Errorf("balance %d, want 5120", p.Balance)
	}
	t.Run("MoreThanShipped", func(t *testing.T) {
		_, err := e.Process(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100.01", march(11, 10)))
		servicetest.WantCode(t, err, fault.RefundExceeds)
	})
	t.Run("NeverSeen", func(t *testing.T) {
		_, err := e.Process(e.Event(loyalty.ShipmentRefunded, "C1", "S404", "1", march(11, 10)))
		servicetest.WantCode(t, err, fault.UnknownShipment)
	})
	t.Run("RestOfTheShipment", func(t *testing.T) {
		rest := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(12, 9)))
		if rest.Refund.PointsTakenBack != 120 || !rest.Refund.TotalRefunded.Equal(d("123.45")) {
			t.Errorf("rest refund %+v, want the remaining 120", rest.Refund)
		}
	})
	e.Reconcile()
}

func TestFullRefundInsideTheWindowCancelsThePendingReferral(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	e.Customer("F", "R")
	e.Ship("E", "SE", "80", march(1, 9))
	e.Ship("F", "SF", "80", march(1, 9))

	// A partial refund leaves the bonus; a full one inside the window cancels it.
	if res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "E", "SE", "30", march(3, 9))); res.Referral != nil {
		t.Errorf("partial refund touched the referral: %+v", res.Referral)
	}
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "E", "SE", "50", march(4, 9)))
	if res.Referral == nil || res.Referral.Status != "cancelled" || res.Referral.Points != -500 {
		t.Errorf("full refund in the window: %+v, want the bonus cancelled", res.Referral)
	}
	// After the window, a full refund leaves the bonus standing.
	late := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "F", "SF", "80", march(15, 10)))
	if late.Referral != nil {
		t.Errorf("refund after the window cancelled the bonus: %+v", late.Referral)
	}
	if p := e.Points("R"); p.Balance != 500 {
		t.Errorf("referrer balance %d, want 500 (one bonus cancelled)", p.Balance)
	}
	e.Reconcile()
}

func TestEventsAreRecordedOncePerPartnerKey(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	ev := e.Event(loyalty.ShipmentCompleted, "C1", "S1", "100", march(1, 9))
	first := e.MustProcess(ev)
	o := e.ProcessAs(e.Key, ev)
	again := o.Result
	if o.Err != nil || !o.Replayed || *again.EntryID != *first.EntryID || again.Earning.Points != first.Earning.Points {
		t.Errorf("replay: %+v replayed=%v err=%v", again, o.Replayed, o.Err)
	}
	changed := ev
	other := d("101")
	changed.Amount = &other
	servicetest.WantCode(t, e.ProcessAs(e.Key, changed).Err, fault.IdempotencyConflict)

	// Another partner's event with the same id is another event; the same
	// shipment completed twice is refused.
	_, k, err := e.Ledger.CreateKey(e.Ctx, "other partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	servicetest.WantCode(t, e.ProcessAs(k, ev).Err, fault.DuplicateShipment)

	t.Run("ConcurrentSameEventMakesOneEntry", func(t *testing.T) {
		ev := e.Event(loyalty.ShipmentCompleted, "C1", "S2", "77", march(2, 9))
		var wg sync.WaitGroup
		entries := make(chan int64, 10)
		for range 10 {
			wg.Go(func() {
				o := e.ProcessAs(e.Key, ev)
				if o.Err != nil {
					t.Errorf("concurrent: %v", o.Err)
					return
				}
				entries <- *o.Result.EntryID
			})
		}
		wg.Wait()
		close(entries)
		ids := map[int64]bool{}
		for id := range entries {
			ids[id] = true
		}
		if len(ids) != 1 {
			t.Errorf("concurrent submissions answered %d different entries", len(ids))
		}
		var n int
		e.Scan(t, `SELECT count(*) FROM entries WHERE metadata->>'shipment_id' = 'S2'`, &n)
		if n != 1 {
			t.Errorf("%d entries for one event, want 1", n)
		}
	})
}

func TestRefusedEventsWriteNothing(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	for _, tc := range []struct {
		name string
		ev   loyalty.Event
		code fault.Code
	}{
		{"UnknownCustomer", e.Event(loyalty.ShipmentCompleted, "nobody", "S1", "10", march(1, 9)), fault.UnknownCustomer},
		{"FutureEvent", e.Event(loyalty.ShipmentCompleted, "C1", "S1", "10", march(20, 9)), fault.Invalid},
		{"ZeroAmount", e.Event(loyalty.ShipmentCompleted, "C1", "S1", "0", march(1, 9)), fault.Invalid},
		{"FenFraction", e.Event(loyalty.ShipmentCompleted, "C1", "S1", "1.001", march(1, 9)), fault.InvalidAmount},
		{"NoAmount", e.Event(loyalty.ShipmentCompleted, "C1", "S1", "", march(1, 9)), fault.Invalid},
		{"UnknownType", e.Event("shipment.lost", "C1", "S1", "10", march(1, 9)), fault.Invalid},
		{"BadShipmentID", e.Event(loyalty.ShipmentCompleted, "C1", "S 1", "10", march(1, 9)), fault.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Process(tc.ev)
			servicetest.WantCode(t, err, tc.code)
		})
	}
	for _, table := range []string{"events", "entries", "shipments", "customer_months"} {
		var n int
		e.Scan(t, "SELECT count(*) FROM "+table, &n)
		if n != 0 {
			t.Errorf("%d rows in %s after refused events", n, table)
		}
	}
}

func TestCustomerRegistration(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("R2")
	e.Customer("E", "R")
	create := func(id, name string, referredBy *string) error {
		_, _, err := e.Loyalty.CreateCustomer(e.Ctx, loyalty.Customer{ID: id, Name: name, ReferredBy: referredBy})
		return err
	}
	s := func(v string) *string { return &v }
	servicetest.WantCode(t, create("X", "X", s("X")), fault.SelfReferral)
	servicetest.WantCode(t, create("X", "X", s("ghost")), fault.UnknownReferrer)
	servicetest.WantCode(t, create("E", "Customer E", s("R2")), fault.ReferrerImmutable)
	servicetest.WantCode(t, create("E", "Customer E", nil), fault.ReferrerImmutable)
	servicetest.WantCode(t, create("E", "Someone else", s("R")), fault.CustomerConflict)
	servicetest.WantCode(t, create("bad id", "x", nil), fault.Invalid)
	servicetest.WantCode(t, create("Y", " ", nil), fault.Invalid)
	c, created, err := e.Loyalty.CreateCustomer(e.Ctx, loyalty.Customer{ID: "E", Name: "Customer E", ReferredBy: s("R")})
	if err != nil || created || *c.ReferredBy != "R" {
		t.Errorf("same registration again: %+v created=%v err=%v, want a no-op", c, created, err)
	}
}

func TestRuleVersionsPriceTheirOwnPeriod(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	rs := rules.Default()
	rs.Segments[0].Multiplier = d("2") // floating customers earn double from April
	rs.EffectiveFrom = time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai)
	stored, err := e.Loyalty.PutRules(e.Ctx, rs, "test")
	if err != nil || stored.Version != 2 {
		t.Fatalf("put rules: version %d err %v", stored.Version, err)
	}
	march := e.Ship("C1", "S1", "10", march(20, 9).Add(-6*24*time.Hour))
	e.Clock.Set(time.Date(2026, 4, 2, 12, 0, 0, 0, shanghai))
	april := e.Ship("C1", "S2", "10", time.Date(2026, 4, 2, 9, 0, 0, 0, shanghai))
	if march.RuleVersion != 1 || march.Earning.Points != 10 || april.RuleVersion != 2 || april.Earning.Points != 20 {
		t.Errorf("March v%d %d points, April v%d %d points; want v1 10, v2 20",
			march.RuleVersion, march.Earning.Points, april.RuleVersion, april.Earning.Points)
	}
	t.Run("Refusals", func(t *testing.T) {
		past := rules.Default()
		past.EffectiveFrom = time.Date(2026, 3, 1, 0, 0, 0, 0, shanghai)
		_, err := e.Loyalty.PutRules(e.Ctx, past, "test")
		servicetest.WantCode(t, err, fault.Invalid)
		overlapping := rules.Default()
		overlapping.Segments[2].Min = money.Of(d("250"))
		_, err = e.Loyalty.PutRules(e.Ctx, overlapping, "test")
		servicetest.WantCode(t, err, fault.InvalidRules)
	})
	versions, err := e.Loyalty.RuleVersions(e.Ctx)
	if err != nil || len(versions) != 2 {
		t.Errorf("%d versions, err %v; want 2", len(versions), err)
	}
}
