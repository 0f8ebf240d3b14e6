package loyalty_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// A customer's name may be 200 bytes once trimmed, not 201; a refusal
// names the field.
func TestCustomerNameAtMost200Bytes(t *testing.T) {
	e := newEnv(t)
	if _, created, err := e.Loyalty.CreateCustomer(e.Ctx, loyalty.Customer{ID: "C200",
		Name: " " + strings.Repeat("n", 200) + " "}); err != nil || !created {
		t.Errorf("a name of 200 bytes: created %t, %v", created, err)
	}
	_, _, err := e.Loyalty.CreateCustomer(e.Ctx, loyalty.Customer{ID: "C201", Name: strings.Repeat("n", 201)})
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.Invalid || !slices.Equal(slices.Sorted(maps.Keys(fe.Fields)), []string{"name"}) {
		t.Errorf("a name of 201 bytes: %v, want invalid naming the name", err)
	}
}

// CreateCustomer answers the customer as stored, registered at the
// transaction's instant, with their points account open at zero.
func TestCreateCustomerAnswersTheCustomerAsStored(t *testing.T) {
	e := newEnv(t)
	c, created, err := e.Loyalty.CreateCustomer(e.Ctx, loyalty.Customer{ID: "C1", Name: "  Ann  "})
	if err != nil || !created {
		t.Fatalf("created %t, %v", created, err)
	}
	if c.ID != "C1" || c.Name != "Ann" || c.ReferredBy != nil || !c.CreatedAt.Equal(servicetest.Start) {
		t.Errorf("answered %+v, want C1 named Ann registered at %v", c, servicetest.Start)
	}
	e.WantBalanceOf(t, ledger.CustomerAccount("C1", "points"), "0")
}

// TierAt is the higher of the tier of last month's contribution and that of
// the month so far (DOMAIN.md: 2,000 CNY is mid-tier L9, 300 regular L4).
func TestTierAtIsTheHigherOfLastMonthAndThisMonth(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "2000", time.Date(2026, 2, 20, 9, 0, 0, 0, shanghai))
	e.Ship("C1", "S2", "300", march(2, 9))
	for _, c := range []struct {
		at   time.Time
		want rules.Tier
	}{
		{march(15, 12), rules.Tier{Segment: "mid", Level: 9}},                                    // February's, higher than March's
		{time.Date(2026, 4, 10, 9, 0, 0, 0, shanghai), rules.Tier{Segment: "regular", Level: 4}}, // March's
	} {
		var got rules.Tier
		if err := e.Ledger.ReadTx(e.Ctx, func(tx *ledger.Tx) (err error) {
			got, err = e.Loyalty.TierAt(e.Ctx, tx, "C1", c.at)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("tier at %v: %+v, want %+v", c.at, got, c.want)
		}
	}
}

// RankContributions ranks the month's contribution of every customer
// registered before the instant, highest first, those without shipments at
// zero, and of a customer registered later with shipments in the month; a
// customer registered later without any is not counted; an error of emit
// stops the ranking and is answered.
func TestRankContributionsRanksEveryCustomerRegisteredBeforeOrShipping(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"C1", "C2", "C3"} {
		e.Customer(id)
	}
	e.Ship("C1", "S1", "100", march(2, 9))
	e.Ship("C3", "S3", "500", march(3, 9))
	e.Ship("C3", "S4", "20.50", march(4, 9))
	e.Clock.Add(2 * time.Hour)
	e.Customer("C4")
	e.Ship("C4", "S5", "1000", march(15, 13))
	e.Customer("C5")
	before := servicetest.Start.Add(time.Hour)

	type ranked struct {
		amount   string
		rank, of int
	}
	var got []ranked
	if err := e.Ledger.ReadTx(e.Ctx, func(tx *ledger.Tx) error {
		got = nil
		return loyalty.RankContributions(e.Ctx, tx, "2026-03", before, func(c loyalty.RankedContribution) error {
			got = append(got, ranked{c.Amount.StringFixed(2), c.Rank, c.Of})
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if want := []ranked{{"1000.00", 1, 4}, {"520.50", 2, 4}, {"100.00", 3, 4}, {"0.00", 4, 4}}; !slices.Equal(got, want) {
		t.Errorf("ranked %v, want %v", got, want)
	}

	stop := errors.New("enough")
	var n int
	err := e.Ledger.ReadTx(e.Ctx, func(tx *ledger.Tx) error {
		n = 0
		return loyalty.RankContributions(e.Ctx, tx, "2026-03", before, func(loyalty.RankedContribution) error {
			n++
			return stop
		})
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("emit failing: %d emitted, %v; want 1 and its error", n, err)
	}
}
