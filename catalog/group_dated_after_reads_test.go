package catalog_test

import (
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/rules"
)

// TestAGroupedRedemptionDatedInANewMonthHasThatMonthsTier (helper-149's
// finding): C1 contributed
// 5,000.00 in February (mid-tier, level 11 for all of March) and nothing in
// March, so from 2026-04-01T00:00+08:00 C1 is floating level 1. A group of
// redemptions begins at 23:59:59 on March 31 and holds C1's lock only at
// 00:00:01 on April 1 (a lock wait of two seconds): the redemption is
// dated April 1, when C1's level is 1, yet a level product with min_level 9
// is redeemed. Made alone (redeemTx), or by the group's fallback, it is
// refused not_eligible: the tier is read after the restamp there. The group
// read C1's tier as of its start: it now sees the month turn between its
// reads and its date, and makes its redemptions one by one.
func TestAGroupedRedemptionDatedInANewMonthHasThatMonthsTier(t *testing.T) {
	eachAndTogether(t, func(t *testing.T, each bool) {
		e := midTierC1AndALevelLamp(t)
		if each { // the control: made in April, redemption by redemption
			e.Clock.Set(time.Date(2026, 4, 1, 0, 0, 1, 0, servicetest.Shanghai))
		} else { // begun in March, C1's lock held from April on
			e.Clock.Set(time.Date(2026, 3, 31, 23, 59, 59, 0, servicetest.Shanghai))
			var once sync.Once
			catalog.SetBeforeLocks(e.Catalog, func() { once.Do(func() { e.Clock.Add(2 * time.Second) }) })
		}
		rs, _, errs := e.Catalog.RedeemGroup(e.Ctx, []catalog.RedemptionInput{{ID: "r1", CustomerID: "C1", SKU: "lamp", Quantity: 1}}, "test", each)
		if errs[0] == nil {
			t.Errorf("redeemed at %v (April, C1 at level 1) a product for level 9 and up: entry %d, %d points",
				rs[0].CreatedAt.In(servicetest.Shanghai), rs[0].EntryID, rs[0].Points)
		} else if fault.CodeOf(errs[0]) != fault.NotEligible {
			t.Errorf("refused, but %v; want not_eligible", errs[0])
		}
	})
}

// TestAGroupedRedemptionCountsThePointsAvailableWhenItIsDated: R's referral
// bonus (500 points, pending 14 days) becomes available at Start+1s. A
// group of redemptions begins at Start and holds R's lock at Start+2s, when
// the bonus is available, and is dated then; made alone at that instant the
// redemption of a 500-point product is made. The group reads what R may
// spend as of its start, and refuses insufficient_points: a refusal that
// the same redemption, made alone at the instant it is dated, is not given.
// It now sees the bonus's lot become available between its reads and its
// date, and makes its redemptions one by one.
func TestAGroupedRedemptionCountsThePointsAvailableWhenItIsDated(t *testing.T) {
	eachAndTogether(t, func(t *testing.T, each bool) {
		e := servicetest.New(t)
		e.Customer("R")
		e.Customer("C", "R")
		e.Ship("C", "S1", "50", servicetest.Start.Add(-14*24*time.Hour+time.Second)) // R: 500 pending until Start+1s
		e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 500})
		if each { // the control: made alone at Start+2s
			e.Clock.Set(servicetest.Start.Add(2 * time.Second))
		} else { // begun at Start, R's lock held from Start+2s
			var once sync.Once
			catalog.SetBeforeLocks(e.Catalog, func() { once.Do(func() { e.Clock.Add(2 * time.Second) }) })
		}
		rs, _, errs := e.Catalog.RedeemGroup(e.Ctx, []catalog.RedemptionInput{{ID: "r1", CustomerID: "R", SKU: "mug", Quantity: 1}}, "test", each)
		if errs[0] != nil {
			t.Fatalf("refused (%v), though the redemption is dated when R's 500 points are available", errs[0])
		}
		if at := rs[0].CreatedAt; at.Before(servicetest.Start.Add(time.Second)) {
			t.Fatalf("the redemption is dated %v, before the bonus became available", at)
		}
	})
}

// eachAndTogether runs test as two subtests: the group's redemptions made
// one by one (each, the control), and together.
func eachAndTogether(t *testing.T, test func(t *testing.T, each bool)) {
	for _, each := range []bool{true, false} {
		name := "together"
		if each {
			name = "each"
		}
		t.Run(name, func(t *testing.T) { test(t, each) })
	}
}

// TestAGroupedRedemptionDatedUnderANewRuleVersionHasItsTier: C1 contributed
// 5,000.00 in February, mid-tier (level 11) for March under the rules in
// force; a version of the rules taking effect at T mid-March puts mid-tier
// at 6,000.00, so from T C1 is regular (levels 4 to 8). A group begun at
// T-1s that holds C1's lock at T+1s is dated under the new version, and must
// refuse a product for level 9 and up, as the same redemption made alone at
// T+1s does. The month and C1's lots do not change between the two
// instants: only the rule version does.
func TestAGroupedRedemptionDatedUnderANewRuleVersionHasItsTier(t *testing.T) {
	eachAndTogether(t, func(t *testing.T, each bool) {
		e := midTierC1AndALevelLamp(t)
		rs := rules.Default()
		at := servicetest.Start.Add(6 * time.Minute)
		rs.EffectiveFrom = at
		for i := range rs.Segments {
			if rs.Segments[i].Code == "mid" {
				rs.Segments[i].Min = money.Of(decimal.RequireFromString("6000"))
			}
		}
		if _, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil {
			t.Fatal(err)
		}
		if each { // the control: made alone under the new version
			e.Clock.Set(at.Add(time.Second))
		} else { // begun under the old version, C1's lock held under the new
			e.Clock.Set(at.Add(-time.Second))
			var once sync.Once
			catalog.SetBeforeLocks(e.Catalog, func() { once.Do(func() { e.Clock.Add(2 * time.Second) }) })
		}
		rs2, _, errs := e.Catalog.RedeemGroup(e.Ctx, []catalog.RedemptionInput{{ID: "r1", CustomerID: "C1", SKU: "lamp", Quantity: 1}}, "test", each)
		if errs[0] == nil {
			t.Errorf("redeemed at %v (C1 regular under the version from %v) a product for level 9 and up: entry %d",
				rs2[0].CreatedAt.In(servicetest.Shanghai), at.In(servicetest.Shanghai), rs2[0].EntryID)
		} else if fault.CodeOf(errs[0]) != fault.NotEligible {
			t.Errorf("refused, but %v; want not_eligible", errs[0])
		}
	})
}

// midTierC1AndALevelLamp is a fresh Env where C1 shipped 5,000.00 in
// February (mid-tier, level 11 for March) and lamp is a level product for
// level 9 and up.
func midTierC1AndALevelLamp(t *testing.T) *servicetest.Env {
	e := servicetest.New(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "5000", servicetest.Start.AddDate(0, -1, 0)) // 2026-02-15: 5,000 points
	min9 := 9
	e.Product(catalog.Product{SKU: "lamp", Name: "Lamp", Kind: catalog.Level, PointsPrice: 100, MinLevel: &min9})
	return e
}
