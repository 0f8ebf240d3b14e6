package finance_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/finance"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

func TestPointsReportAndSegments(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.Customer(fmt.Sprintf("C%02d", i))
	}
	e.Customer("R")
	e.Customer("E", "R")
	for i := range 20 {
		e.Ship(fmt.Sprintf("C%02d", i), fmt.Sprintf("S%02d", i), fmt.Sprint(100*(i+1)*(i+1)), march(2, 9))
	}
	e.Ship("E", "SE", "60", march(3, 9))
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	if _, err := e.Redeem("C05", "pen", 2); err != nil {
		t.Fatal(err)
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C03", "S03", "800", march(4, 9)))

	rep, err := e.Finance.PointsRollForward(e.Ctx, march(1, 0), march(16, 0))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Opening != 0 || rep.Redeemed != 200 || rep.Earned["referral"] != 500 || rep.Expired != 0 {
		t.Errorf("points report %+v", rep)
	}
	if rep.Opening+rep.EarnedTotal()-rep.Redeemed-rep.Expired != rep.Closing {
		t.Errorf("roll-forward does not add up: %+v", rep)
	}
	var held int64
	e.Scan(t, `SELECT sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code LIKE 'customer:%:points'`, &held)
	if rep.Closing != held {
		t.Errorf("closing %d, customers hold %d", rep.Closing, held)
	}

	seg, err := e.Finance.Segments(e.Ctx, rules.Month("2026-03"))
	if err != nil {
		t.Fatal(err)
	}
	if seg.Customers != 22 {
		t.Errorf("%d customers, want 22", seg.Customers)
	}
	classes := map[string]finance.GroupRow{}
	for _, c := range seg.Classes {
		classes[c.Name] = c
	}
	// 22 customers: A = ceil(1.1) = 2, B = ceil(4.4) - 2 = 3, C = 17.
	if classes["A"].Customers != 2 || classes["B"].Customers != 3 || classes["C"].Customers != 17 {
		t.Errorf("classes %+v", seg.Classes)
	}
	// A: C19 (40,000) and C18 (36,100) of 287,060 shipped less 800 refunded.
	if !classes["A"].Contribution.Equal(d("76100")) || !classes["A"].Share.Equal(d("0.2658")) {
		t.Errorf("A %+v, total %s", classes["A"], seg.Contribution)
	}
	sum := decimal.Zero
	n := 0
	for _, s := range seg.Segments {
		sum, n = sum.Add(s.Contribution.Decimal), n+s.Customers
	}
	if !sum.Equal(seg.Contribution.Decimal) || n != seg.Customers {
		t.Errorf("segments sum to %s over %d customers, want %s over %d", sum, n, seg.Contribution, seg.Customers)
	}
}

// TestSegmentsAreThoseOfTheVersionInEffectAtTheMonthsLastInstant: months
// end in the rules' zone (Shanghai), and the version in effect at a month's
// last instant (a microsecond, PostgreSQL's precision, before it ends)
// sorts its customers. Version 2 starts at that instant and lowers the
// mid-tier to 1,000 CNY; version 3 starts with April and puts it back at
// 2,000. March's 1,500 is mid-tier under version 2, regular under 1 and 3.
func TestSegmentsAreThoseOfTheVersionInEffectAtTheMonthsLastInstant(t *testing.T) {
	e := newEnv(t)
	april := time.Date(2026, 4, 1, 0, 0, 0, 0, shanghai)
	for i, from := range []time.Time{april.Add(-time.Microsecond), april} {
		rs := rules.Default()
		if i == 0 {
			rs.Segments[2].Min = money.Of(d("1000"))
		}
		rs.EffectiveFrom = from
		if v, err := e.Loyalty.PutRules(e.Ctx, rs, "test"); err != nil || v.Version != i+2 {
			t.Fatalf("put rules from %s: version %d, %v", from, v.Version, err)
		}
	}
	e.Customer("C1")
	e.Ship("C1", "S1", "1500", march(10, 9))

	segments := func(month rules.Month) (int, map[string]int) {
		t.Helper()
		rep, err := e.Finance.Segments(e.Ctx, month)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, s := range rep.Segments {
			counts[s.Name] = s.Customers
		}
		return rep.RuleVersion, counts
	}
	if version, counts := segments("2026-03"); version != 2 || counts["mid"] != 1 {
		t.Errorf("March: version %d, segments %v; want version 2 with C1 mid-tier", version, counts)
	}
	// In April C1 has shipped nothing: floating.
	if version, counts := segments("2026-04"); version != 3 || counts["floating"] != 1 {
		t.Errorf("April: version %d, segments %v; want version 3 with C1 floating", version, counts)
	}
}

// TestLifecycleCountsTheCustomersThePyramidCounts: the month's pyramid and
// its lifecycle report count the same customers, a customer registered
// after the month with shipments dated in it or before among them (one
// with January's shipments only counts in February with nothing), with
// their contribution and segment, and March's lifecycle moves out of each
// stage the customers February's counted there. (Found by review: the
// pyramid counted only customers registered by the month's end, and left
// such shipments out of its total; then the lifecycle still did.)
func TestLifecycleCountsTheCustomersThePyramidCounts(t *testing.T) {
	e := newEnv(t)
	e.Clock.Set(shanghaiAt(2026, time.February, 10, 12))
	e.Customer("EARLY")
	e.Ship("EARLY", "S1", "100", e.Clock.Now().Add(-time.Minute))
	e.Clock.Set(servicetest.Start) // 15 March
	e.Customer("LATE")
	e.Ship("LATE", "S2", "2500", shanghaiAt(2026, time.February, 20, 9))
	e.Customer("JAN")
	e.Ship("JAN", "S3", "40", shanghaiAt(2026, time.January, 20, 9))
	e.Customer("NONE")

	seg, err := e.Finance.Segments(e.Ctx, rules.Month("2026-02"))
	if err != nil {
		t.Fatal(err)
	}
	feb, err := e.Finance.Lifecycle(e.Ctx, rules.Month("2026-02"))
	if err != nil {
		t.Fatal(err)
	}
	if seg.Customers != 3 || feb.Customers != 3 || !seg.Contribution.Equal(d("2600")) {
		t.Errorf("February: the pyramid counts %d customers (%s), the lifecycle %d; want EARLY, LATE and JAN in both (2600)",
			seg.Customers, seg.Contribution, feb.Customers)
	}
	counts := map[string]int{}
	for _, g := range seg.Segments {
		counts[g.Name] = g.Customers
	}
	if counts["mid"] != 1 || counts["floating"] != 2 {
		t.Errorf("February's segments %v, want LATE mid-tier, EARLY and JAN floating", counts)
	}
	mar, err := e.Finance.Lifecycle(e.Ctx, rules.Month("2026-03"))
	if err != nil {
		t.Fatal(err)
	}
	atEndOfFeb := map[string]int{}
	for _, s := range feb.Stages {
		atEndOfFeb[s.Stage] = s.Customers
	}
	from := map[string]int{}
	for _, m := range mar.Movements {
		from[m.From] += m.Customers
	}
	for stage, n := range from {
		if stage != rules.StageProspect && n != atEndOfFeb[stage] {
			t.Errorf("March's lifecycle moves %d customers from %s; February's counts %d there", n, stage, atEndOfFeb[stage])
		}
	}
}
