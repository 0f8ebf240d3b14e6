package loyalty_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/money"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/rules"
)

// The boundaries of time in the rules: which rule version prices an event
// or a deposit, when a lot stops being spendable and is expired, when a
// referral bonus leaves its return window. Each is tested one instant
// (a microsecond, PostgreSQL's precision) before, at, and after.

// switchAt is the start of version 2 in the tests of rule switches: the
// middle of March, after the test clock's 15 March.
var switchAt = time.Date(2026, 3, 20, 0, 0, 0, 0, shanghai)

// putVersion2 stores the default rules (docs/RULES.md) changed by change as version
// 2, effective from `from`.
func (e *env) putVersion2(from time.Time, change func(*rules.RuleSet)) {
	e.T.Helper()
	rs := rules.Default()
	change(&rs)
	rs.EffectiveFrom = from
	stored, err := e.Loyalty.PutRules(e.Ctx, rs, "test")
	if err != nil || stored.Version != 2 {
		e.T.Fatalf("put rules: version %d, %v", stored.Version, err)
	}
}

// eachEventPath runs the test on the grouped fast path and on the path that
// processes each event alone: both must choose the same rule version.
func eachEventPath(t *testing.T, test func(t *testing.T, e *env)) {
	t.Run("Grouped", func(t *testing.T) { test(t, newEnv(t)) })
	t.Run("Alone", func(t *testing.T) {
		e := newEnv(t)
		e.sendEventByEvent(true)
		test(t, e)
	})
}

// priced is what the books say about a shipment's entry: the rule version
// recorded on the entry and on the shipment, and the customer's lot.
type priced struct {
	entryVersion, shipmentVersion int
	points                        int64
	lotExpires                    string // in Shanghai
}

func (e *env) pricedShipment(shipmentID string) priced {
	e.T.Helper()
	var p priced
	var expires time.Time
	// The points its entry credited, and the expiry of the lot they went
	// into (shared, named by the posting, or of its own).
	if err := e.Pool.QueryRow(e.Ctx, `SELECT en.rule_version, s.rule_version, p.amount::bigint, l.expires_at
FROM shipments s JOIN entries en ON en.id = s.entry_id
JOIN accounts a ON a.code = 'customer:' || s.customer_id || ':points'
JOIN postings p ON p.entry_id = en.id AND p.account_id = a.id
JOIN points_lots l ON l.id = p.lot_id OR (l.entry_id = en.id AND l.account_id = a.id AND NOT l.shared)
WHERE s.shipment_id = $1`, shipmentID).
		Scan(&p.entryVersion, &p.shipmentVersion, &p.points, &expires); err != nil {
		e.T.Fatalf("shipment %s in the books: %v", shipmentID, err)
	}
	p.lotExpires = expires.In(shanghai).Format(time.RFC3339Nano)
	return p
}

// wantPriced checks an event's answer and the books against the version
// that should have priced it.
func wantPriced(t *testing.T, e *env, res loyalty.Result, version int, points int64, expires time.Time) {
	t.Helper()
	if res.RuleVersion != version || res.Points != points {
		t.Errorf("%s answered v%d %d points, want v%d %d", res.ShipmentID, res.RuleVersion, res.Points, version, points)
	}
	want := priced{entryVersion: version, shipmentVersion: version, points: points, lotExpires: expires.In(shanghai).Format(time.RFC3339Nano)}
	if got := e.pricedShipment(res.ShipmentID); got != want {
		t.Errorf("%s in the books: %+v, want %+v", res.ShipmentID, got, want)
	}
}

// Version 2 doubles floating customers' points and lets lots live 6 months.
func doubleFloatingSixMonths(rs *rules.RuleSet) {
	rs.Segments[0].Multiplier = d("2")
	rs.ExpiryMonths = 6
	rs.FeedbackPoints = 25
}

var (
	// A lot earned in March 2026 expires at the end of the 12th month after
	// (v1) or of the 6th (v2).
	marchLotV1 = time.Date(2027, 4, 1, 0, 0, 0, 0, shanghai)
	marchLotV2 = time.Date(2026, 10, 1, 0, 0, 0, 0, shanghai)
)

func TestLateEventIsPricedByTheVersionInEffectWhenItOccurred(t *testing.T) {
	eachEventPath(t, func(t *testing.T, e *env) {
		e.Customer("C1")
		e.putVersion2(switchAt, doubleFloatingSixMonths)
		e.Clock.Set(time.Date(2026, 3, 25, 12, 0, 0, 0, shanghai))

		// After the switch, first an event of the new period, then one that
		// occurred before the switch and arrives late.
		recent := e.Ship("C1", "S-NEW", "10", time.Date(2026, 3, 21, 9, 0, 0, 0, shanghai))
		late := e.Ship("C1", "S-LATE", "10", switchAt.Add(-time.Hour))
		wantPriced(t, e, recent, 2, 20, marchLotV2) // floating: 10 x 2
		wantPriced(t, e, late, 1, 10, marchLotV1)   // floating: 10 x 1.0

		// A late rating is priced by the old version's feedback points too.
		rate := func(shipment string, at time.Time) loyalty.Result {
			ev := e.Event(loyalty.FeedbackSubmitted, "C1", shipment, "", at)
			ev.Rating = ptr(5)
			return e.MustProcess(ev)
		}
		rateNew := rate("S-NEW", time.Date(2026, 3, 22, 9, 0, 0, 0, shanghai))
		rateLate := rate("S-LATE", switchAt.Add(-time.Minute))
		if rateNew.RuleVersion != 2 || rateNew.Points != 25 || rateLate.RuleVersion != 1 || rateLate.Points != 10 {
			t.Errorf("ratings: new v%d %d points, late v%d %d points; want v2 25, v1 10",
				rateNew.RuleVersion, rateNew.Points, rateLate.RuleVersion, rateLate.Points)
		}
		var versions []string
		rows, err := e.Pool.Query(e.Ctx, `SELECT metadata->>'shipment_id' || ':v' || rule_version FROM entries
WHERE kind = 'feedback.submitted' ORDER BY metadata->>'shipment_id'`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, s)
		}
		if !slices.Equal(versions, []string{"S-LATE:v1", "S-NEW:v2"}) {
			t.Errorf("feedback entries priced by %v, want S-LATE:v1 S-NEW:v2", versions)
		}

		if p := e.Points("C1"); p.Balance != 20+10+25+10 || p.Available != p.Balance {
			t.Errorf("points %+v, want 65 available", p)
		}
		if got, want := e.statementLines("C1"), []string{
			"10 points for rating shipment S-LATE",
			"25 points for rating shipment S-NEW",
			"10 points for shipment S-LATE (floating x1)",
			"20 points for shipment S-NEW (floating x2)",
		}; !slices.Equal(got, want) {
			t.Errorf("statement %q, want %q", got, want)
		}
		e.Reconcile()
	})
}

func TestEventAtExactlyEffectiveFromIsPricedByTheNewVersion(t *testing.T) {
	eachEventPath(t, func(t *testing.T, e *env) {
		e.Customer("C1")
		e.putVersion2(switchAt, doubleFloatingSixMonths)
		e.Clock.Set(switchAt.Add(time.Hour))

		before := e.Ship("C1", "S-BEFORE", "10", switchAt.Add(-time.Microsecond))
		at := e.Ship("C1", "S-AT", "10", switchAt)
		after := e.Ship("C1", "S-AFTER", "10", switchAt.Add(time.Microsecond))
		wantPriced(t, e, before, 1, 10, marchLotV1)
		wantPriced(t, e, at, 2, 20, marchLotV2)
		wantPriced(t, e, after, 2, 20, marchLotV2)
		for _, res := range []loyalty.Result{before, at, after} {
			entry, err := e.Ledger.Entry(e.Ctx, *res.EntryID)
			if err != nil {
				t.Fatal(err)
			}
			if !entry.EffectiveAt.Equal(res.OccurredAt) {
				t.Errorf("%s: entry effective %s, want %s (when it occurred)", res.ShipmentID, entry.EffectiveAt, res.OccurredAt)
			}
		}
		rs, err := e.Loyalty.RulesAt(e.Ctx, switchAt.Add(-time.Microsecond))
		if err != nil || rs.Version != 1 {
			t.Errorf("rules one instant before the switch: v%d, %v; want v1", rs.Version, err)
		}
		if rs, err = e.Loyalty.RulesAt(e.Ctx, switchAt); err != nil || rs.Version != 2 {
			t.Errorf("rules at the switch: v%d, %v; want v2", rs.Version, err)
		}
		if p := e.Points("C1"); p.Balance != 50 {
			t.Errorf("points %d, want 10 + 20 + 20", p.Balance)
		}
		e.Reconcile()
	})
}

// Version 2 of the mid-month switch: the mid-tier starts at 1,000 CNY a
// month and earns x1.5.
func cheaperMidTier(rs *rules.RuleSet) {
	rs.Segments[2].Min = money.Of(d("1000"))
	rs.Segments[2].Multiplier = d("1.5")
}

func TestMidMonthSwitchPricesEachSideByItsVersionOverTheWholeMonthsContribution(t *testing.T) {
	eachEventPath(t, func(t *testing.T, e *env) {
		e.Customer("C1")
		e.putVersion2(switchAt, cheaperMidTier)
		// Nothing in February: the tier comes from March's contribution so
		// far, which counts every March shipment, whichever version priced it.
		a := e.Ship("C1", "SA", "1500", march(10, 9))
		// v1, March so far 0: floating L1 x1.0.
		wantTier(t, a, "floating", 1, "0", 1500)
		e.Clock.Set(time.Date(2026, 3, 25, 12, 0, 0, 0, shanghai))
		// v1, March so far 1500: regular [300, 2000) L4-8,
		// 4 + floor(1200*5/1700) = L7, x1.0.
		b := e.Ship("C1", "SB", "100", switchAt.Add(-time.Microsecond))
		wantTier(t, b, "regular", 7, "1500", 100)
		// v2, March so far 1600: mid [1000, 10000) L9-15,
		// 9 + floor(600*7/9000) = L9, x1.5.
		c := e.Ship("C1", "SC", "100", switchAt)
		wantTier(t, c, "mid", 9, "1600", 150)
		// Late, v1, March so far 1700: regular, 4 + floor(1400*5/1700) = L8, x1.0
		// (under v2 it would be mid x1.5).
		late := e.Ship("C1", "SD", "100", time.Date(2026, 3, 19, 12, 0, 0, 0, shanghai))
		wantTier(t, late, "regular", 8, "1700", 100)
		// v2, March so far 1800: mid L9, 60 x 1.5.
		e2 := e.Ship("C1", "SE", "60", time.Date(2026, 3, 25, 9, 0, 0, 0, shanghai))
		wantTier(t, e2, "mid", 9, "1800", 90)

		for id, version := range map[string]int{"SA": 1, "SB": 1, "SC": 2, "SD": 1, "SE": 2} {
			if got := e.pricedShipment(id); got.entryVersion != version || got.shipmentVersion != version {
				t.Errorf("%s in the books: %+v, want v%d", id, got, version)
			}
		}
		var contribution decimal.Decimal
		var shipments int
		if err := e.Pool.QueryRow(e.Ctx, `SELECT contribution, shipments FROM customer_months
WHERE customer_id = 'C1' AND month = '2026-03'`).Scan(&contribution, &shipments); err != nil {
			t.Fatal(err)
		}
		if !contribution.Equal(d("1860")) || shipments != 5 {
			t.Errorf("March: %s over %d shipments, want 1860 over 5", contribution, shipments)
		}
		// Now (25 March, v2): March's 1860 is mid L9 under v2 (regular L8
		// under v1).
		prof, err := e.Loyalty.Profile(e.Ctx, "C1")
		if err != nil {
			t.Fatal(err)
		}
		if prof.RuleVersion != 2 || prof.Segment != "mid" || prof.Level != 9 || prof.TierBasis != rules.BasisThisMonth {
			t.Errorf("profile v%d %s L%d (%s), want v2 mid L9 from this month", prof.RuleVersion, prof.Segment, prof.Level, prof.TierBasis)
		}
		if p := e.Points("C1"); p.Balance != 1500+100+150+100+90 {
			t.Errorf("points %d, want 1940", p.Balance)
		}
		if got, want := e.statementLines("C1"), []string{
			"90 points for shipment SE (mid-tier x1.5)",
			"100 points for shipment SD (regular x1)",
			"150 points for shipment SC (mid-tier x1.5)",
			"100 points for shipment SB (regular x1)",
			"1500 points for shipment SA (floating x1)",
		}; !slices.Equal(got, want) {
			t.Errorf("statement %q, want %q", got, want)
		}
		e.Reconcile()
	})
}

func wantTier(t *testing.T, res loyalty.Result, segment string, level int, monthBefore string, points int64) {
	t.Helper()
	if res.Tier == nil || res.Tier.Segment != segment || res.Tier.Level != level || res.Points != points ||
		res.Contribution == nil || res.Contribution.Month != "2026-03" || !res.Contribution.Before.Equal(d(monthBefore)) {
		t.Errorf("%s: tier %+v, %d points, contribution %+v; want %s L%d, %d points, March at %s before it",
			res.ShipmentID, res.Tier, res.Points, res.Contribution, segment, level, points, monthBefore)
	}
}

// expiryEntries lists the expiry postings on customer accounts as
// "account amount effective_at", effective_at in Shanghai.
func (e *env) expiryEntries() []string {
	e.T.Helper()
	return e.Lines(`SELECT a.code || ' ' || p.amount || ' ' || to_char(en.effective_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS.US')
FROM postings p JOIN entries en ON en.id = p.entry_id JOIN accounts a ON a.id = p.account_id
WHERE en.kind = 'expiry' AND a.code LIKE 'customer:%' ORDER BY a.code, en.effective_at`)
}

func TestExpiryRunExpiresALotAtExactlyItsExpiresAtAndNotAnInstantBefore(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	e.Ship("C1", "S1", "100", march(10, 9)) // expires 2027-04-01 00:00 Shanghai
	expiresAt := marchLotV1
	// C2's lots, credited by hand, expire one instant before C1's and with it.
	for _, lot := range []struct {
		points  int64
		expires time.Time
	}{{7, expiresAt.Add(-time.Microsecond)}, {5, expiresAt}} {
		if _, _, err := e.Ledger.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "test", Reason: "goodwill",
			Postings: []ledger.PostingInput{
				{Account: "customer:C2:points", Amount: decimal.NewFromInt(lot.points), Lot: &ledger.Lot{ExpiresAt: lot.expires}},
				{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-lot.points)}}}); err != nil {
			t.Fatal(err)
		}
	}
	e.Clock.Set(time.Date(2026, 4, 5, 12, 0, 0, 0, shanghai))
	e.Ship("C1", "S2", "40", time.Date(2026, 4, 2, 9, 0, 0, 0, shanghai)) // expires 2027-05-01
	e.Clock.Set(expiresAt.Add(time.Hour))

	// One instant before: only C2's first lot is due.
	rep, err := e.Loyalty.Expire(e.Ctx, expiresAt.Add(-time.Microsecond), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 1 || rep.Points != 7 || rep.Chunks != 1 {
		t.Errorf("run one instant before: %+v, want C2's 7 points", rep)
	}
	e.WantLots(t, "C1", "2027-04-01:100", "2027-05-01:40")
	e.WantLots(t, "C2", "2027-03-31:0", "2027-04-01:5")
	if got, want := e.expiryEntries(), []string{"customer:C2:points -7 2027-03-31T23:59:59.999999"}; !slices.Equal(got, want) {
		t.Errorf("expiry entries %v, want %v", got, want)
	}

	// At expires_at: C1's lot and C2's second.
	rep, err = e.Loyalty.Expire(e.Ctx, expiresAt, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 2 || rep.Points != 105 || rep.Chunks != 1 {
		t.Errorf("run at expires_at: %+v, want C1's 100 and C2's 5 points", rep)
	}
	e.WantLots(t, "C1", "2027-04-01:0", "2027-05-01:40")
	e.WantLots(t, "C2", "2027-03-31:0", "2027-04-01:0")
	if got, want := e.expiryEntries(), []string{
		"customer:C1:points -100 2027-04-01T00:00:00.000000",
		"customer:C2:points -7 2027-03-31T23:59:59.999999",
		"customer:C2:points -5 2027-04-01T00:00:00.000000",
	}; !slices.Equal(got, want) {
		t.Errorf("expiry entries %v, want %v (effective at each run's as_of)", got, want)
	}
	// Each expiry drew on the lots that expired, nothing else.
	if got, want := e.Lines(`SELECT a.code || ' ' || l.amount || ':' || d.amount FROM lot_draws d
JOIN points_lots l ON l.id = d.lot_id JOIN accounts a ON a.id = l.account_id
JOIN entries en ON en.id = d.entry_id WHERE en.kind = 'expiry' ORDER BY 1`),
		[]string{"customer:C1:points 100:100", "customer:C2:points 5:5", "customer:C2:points 7:7"}; !slices.Equal(got, want) {
		t.Errorf("expiries drew %v (lot:drawn), want %v", got, want)
	}
	e.WantBalanceOf(t, "customer:C1:points", "40")
	e.WantBalanceOf(t, "customer:C2:points", "0")
	e.WantBalanceOf(t, "platform:points:expired", "112")
	if got := e.statementLines("C1"); len(got) == 0 || got[0] != "100 points expired" {
		t.Errorf("statement %q, want it to start with the expiry", got)
	}

	rep, err = e.Loyalty.Expire(e.Ctx, expiresAt, "test", nil)
	if err != nil || rep.Customers != 0 || rep.Points != 0 {
		t.Errorf("run again at expires_at: %+v, %v; want nothing", rep, err)
	}
	e.Reconcile()
}

// expiryCustomers is more than two chunks of the expiry job.
const expiryCustomers = 2*loyalty.ExpiryChunk + 7

func expiryCustomer(i int) string { return fmt.Sprintf("X%04d", i) }

// seedExpiry gives every customer i a lot of 10 + i%7 points expiring at
// expiresAt, of which every fifth customer has spent 3; every third also
// has 5 points expiring a month later. It returns the points that expire at
// expiresAt.
func (e *env) seedExpiry(expiresAt time.Time) (int64, error) {
	var expiring int64
	err := e.Ledger.InTx(e.Ctx, func(tx *ledger.Tx) error {
		expiring = 0
		for i := range expiryCustomers {
			code := ledger.CustomerAccount(expiryCustomer(i), "points")
			earn := func(points int64, expires time.Time) error {
				_, err := tx.Post(e.Ctx, ledger.EntryInput{Kind: "adjustment", Actor: "test", Postings: []ledger.PostingInput{
					{Account: code, Amount: decimal.NewFromInt(points), Lot: &ledger.Lot{ExpiresAt: expires}},
					{Account: "platform:points:earned:adjustment", Amount: decimal.NewFromInt(-points)}}})
				return err
			}
			if err := earn(int64(10+i%7), expiresAt); err != nil {
				return err
			}
			expiring += int64(10 + i%7)
			if i%3 == 0 {
				if err := earn(5, expiresAt.AddDate(0, 1, 0)); err != nil {
					return err
				}
			}
			if i%5 == 0 {
				if _, err := tx.Post(e.Ctx, ledger.EntryInput{Kind: "redemption", Actor: "test", Postings: []ledger.PostingInput{
					{Account: code, Amount: d("-3")}, {Account: "platform:points:redeemed", Amount: d("3")}}}); err != nil {
					return err
				}
				expiring -= 3 // from the soonest-expiring lot
			}
		}
		return nil
	})
	return expiring, err
}

// expiryBooks is what an expiry run leaves, without ids: every balance,
// every lot, each expiry posting with its time and as_of, and what each
// expiry drew from which lot.
func (e *env) expiryBooks() []string {
	e.T.Helper()
	out := e.Lines(`
SELECT 'balance ' || a.code || ' ' || sum(b.balance) FROM balance_buckets b JOIN accounts a ON a.id = b.account_id GROUP BY a.code
UNION ALL SELECT 'lot ' || a.code || ' ' || l.amount || ' ' || l.remaining || ' ' || l.expires_at
    FROM points_lots l JOIN accounts a ON a.id = l.account_id
UNION ALL SELECT 'expiry ' || a.code || ' ' || p.amount || ' ' || en.effective_at || ' ' || (en.metadata->>'as_of')
    FROM postings p JOIN entries en ON en.id = p.entry_id JOIN accounts a ON a.id = p.account_id WHERE en.kind = 'expiry'
UNION ALL SELECT 'draw ' || a.code || ' ' || l.expires_at || ' ' || d.amount
    FROM lot_draws d JOIN points_lots l ON l.id = d.lot_id JOIN accounts a ON a.id = l.account_id
    JOIN entries en ON en.id = d.entry_id WHERE en.kind = 'expiry'`)
	slices.Sort(out)
	return out
}

func TestInterruptedExpiryRunEndsWithTheBooksOfAnUninterruptedOne(t *testing.T) {
	expiresAt := marchLotV1
	whole, interrupted := newEnv(t), newEnv(t)
	// The two databases are seeded alike, at once.
	var (
		wg           sync.WaitGroup
		want, seeded int64
		errA, errB   error
	)
	wg.Go(func() { want, errA = whole.seedExpiry(expiresAt) })
	wg.Go(func() { seeded, errB = interrupted.seedExpiry(expiresAt) })
	wg.Wait()
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	if seeded != want {
		t.Fatalf("the two databases were seeded differently: %d, %d", seeded, want)
	}
	for _, e := range []*env{whole, interrupted} {
		e.Clock.Set(expiresAt.Add(time.Hour))
	}

	rep, err := whole.Loyalty.Expire(whole.Ctx, expiresAt, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != expiryCustomers || rep.Points != want || rep.Chunks != 3 {
		t.Fatalf("uninterrupted run %+v, want %d customers, %d points, 3 chunks", rep, expiryCustomers, want)
	}

	// The interrupted run: a customer in the middle of the second chunk is
	// locked by another transaction, so the run waits there with half the
	// chunk posted in its open transaction; then it is cancelled.
	e := interrupted
	blocked := ledger.CustomerAccount(expiryCustomer(loyalty.ExpiryChunk+loyalty.ExpiryChunk/2), "points")
	blocker, err := e.Pool.Begin(e.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(e.Ctx)
	var blockerPID int
	if err := blocker.QueryRow(e.Ctx, `SELECT pg_backend_pid()`).Scan(&blockerPID); err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec(e.Ctx, `SELECT 1 FROM balance_buckets b JOIN accounts a ON a.id = b.account_id
WHERE a.code = $1 FOR UPDATE OF b`, blocked); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.Ctx)
	defer cancel()
	chunks := make(chan loyalty.ExpiryReport, expiryCustomers)
	type result struct {
		rep loyalty.ExpiryReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := e.Loyalty.Expire(ctx, expiresAt, "test", func(r loyalty.ExpiryReport) { chunks <- r })
		done <- result{rep, err}
	}()
	waitUntilBlockedBy(t, e, blockerPID)
	cancel()
	first := <-done
	if !errors.Is(first.err, context.Canceled) {
		t.Fatalf("interrupted run ended with %v, want context.Canceled", first.err)
	}
	if first.rep.Chunks != 1 || first.rep.Customers != loyalty.ExpiryChunk || len(chunks) != 1 {
		t.Fatalf("interrupted run reported %+v after %d chunks, want the first chunk of %d customers", first.rep, len(chunks), loyalty.ExpiryChunk)
	}
	if err := blocker.Rollback(e.Ctx); err != nil {
		t.Fatal(err)
	}
	// Whole chunks only: the first chunk's customers are expired, none of
	// the second chunk's (its transaction rolled back).
	var expired, left int
	if err := e.Pool.QueryRow(e.Ctx, `SELECT count(*) FROM entries WHERE kind = 'expiry'`).Scan(&expired); err != nil {
		t.Fatal(err)
	}
	if err := e.Pool.QueryRow(e.Ctx, `SELECT count(DISTINCT account_id) FROM points_lots WHERE remaining > 0 AND expires_at <= $1`,
		expiresAt).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if expired != loyalty.ExpiryChunk || left != expiryCustomers-loyalty.ExpiryChunk {
		t.Errorf("after the interruption: %d expiry entries, %d customers still to expire; want %d and %d",
			expired, left, loyalty.ExpiryChunk, expiryCustomers-loyalty.ExpiryChunk)
	}

	second, err := e.Loyalty.Expire(e.Ctx, expiresAt, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Customers != expiryCustomers-loyalty.ExpiryChunk || first.rep.Points+second.Points != want {
		t.Errorf("the run again: %+v after %+v; want the other %d customers and %d points in all",
			second, first.rep, expiryCustomers-loyalty.ExpiryChunk, want)
	}
	if twice := e.Lines(`SELECT a.code FROM postings p JOIN entries en ON en.id = p.entry_id JOIN accounts a ON a.id = p.account_id
WHERE en.kind = 'expiry' AND a.code LIKE 'customer:%' GROUP BY a.code HAVING count(*) > 1`); len(twice) > 0 {
		t.Errorf("expired twice: %v", twice)
	}
	got, wantBooks := e.expiryBooks(), whole.expiryBooks()
	if !slices.Equal(got, wantBooks) {
		t.Errorf("books after an interrupted run and a second one differ from one whole run:\n%s", servicetest.DiffLines(got, wantBooks))
	}
	e.WantBalanceOf(t, "platform:points:expired", decimal.NewFromInt(want).String())
	e.Reconcile()
	whole.Reconcile()
}

// waitUntilBlockedBy waits until a session of e's database waits for a lock
// that the session pid holds.
func waitUntilBlockedBy(t *testing.T, e *env, pid int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var waiting bool
		if err := e.Pool.QueryRow(e.Ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))`,
			pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the expiry run never reached the locked customer")
		}
		time.Sleep(5 * time.Millisecond) // polling the server's lock table: there is no notification to wait on
	}
}

func TestReferralBonusBecomesAvailableAtExactlyTheEndOfTheWindow(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 100})
	res := e.Ship("E", "S1", "80", march(2, 9))
	windowEnds := march(16, 9) // 14 days after the qualifying shipment
	if res.Referral == nil || res.Referral.Status != "pending" || !res.Referral.AvailableAt.Equal(windowEnds) {
		t.Fatalf("referral %+v, want pending until %s", res.Referral, windowEnds)
	}
	var lotAvailable time.Time
	if err := e.Pool.QueryRow(e.Ctx, `SELECT l.available_at FROM points_lots l JOIN accounts a ON a.id = l.account_id
WHERE a.code = 'customer:R:points'`).Scan(&lotAvailable); err != nil {
		t.Fatal(err)
	}
	if !lotAvailable.Equal(windowEnds) {
		t.Errorf("the bonus's lot is available from %s, want %s", lotAvailable, windowEnds)
	}

	e.Clock.Set(windowEnds.Add(-time.Microsecond))
	if p := e.Points("R"); p.Balance != 500 || p.Pending != 500 || p.Available != 0 {
		t.Errorf("one instant before the end: %+v, want 500 pending", p)
	}
	entries := e.TableRows("entries")
	_, err := e.Redeem("R", "pen", 1)
	servicetest.WantCode(t, err, fault.InsufficientPoints)
	if e.TableRows("entries") != entries || e.TableRows("redemptions") != 0 {
		t.Error("a refused redemption of pending points wrote something")
	}

	e.Clock.Set(windowEnds)
	if p := e.Points("R"); p.Balance != 500 || p.Pending != 0 || p.Available != 500 {
		t.Errorf("at the end of the window: %+v, want 500 available", p)
	}
	if _, err := e.Redeem("R", "pen", 1); err != nil {
		t.Fatalf("redeeming at the end of the window: %v", err)
	}
	e.WantLots(t, "R", "2027-04-01:400")
	e.WantBalanceOf(t, "customer:R:points", "400")
	e.Reconcile()
}

func TestFullRefundCancelsTheReferralBonusOnlyBeforeTheWindowEnds(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	for _, id := range []string{"E1", "E2", "E3"} {
		e.Customer(id, "R")
		e.Ship(id, "S"+id, "80", march(2, 9))
	}
	windowEnds := march(16, 9)
	// The refunds arrive after every window has ended; what counts is when
	// each occurred.
	e.Clock.Set(time.Date(2026, 3, 20, 12, 0, 0, 0, shanghai))
	refund := func(referee string, at time.Time) loyalty.Result {
		return e.MustProcess(e.Event(loyalty.ShipmentRefunded, referee, "S"+referee, "80", at))
	}
	before := refund("E1", windowEnds.Add(-time.Microsecond))
	at := refund("E2", windowEnds)
	after := refund("E3", windowEnds.Add(time.Microsecond))
	if before.Referral == nil || before.Referral.Status != "cancelled" || before.Referral.Points != -500 {
		t.Errorf("refund one instant before the end: referral %+v, want the bonus cancelled", before.Referral)
	}
	if at.Referral != nil || after.Referral != nil {
		t.Errorf("refunds at and after the end touched the bonus: %+v, %+v", at.Referral, after.Referral)
	}
	for _, r := range []loyalty.Result{before, at, after} {
		if r.Refund == nil || r.Refund.PointsTakenBack != 80 {
			t.Errorf("%s: refund %+v, want the shipment's 80 points taken back", r.ShipmentID, r.Refund)
		}
	}
	if got, want := e.Lines(`SELECT referee_id || ' ' || status || ' ' || (cancel_entry_id IS NOT NULL) FROM referral_bonuses ORDER BY referee_id`),
		[]string{"E1 cancelled true", "E2 paid false", "E3 paid false"}; !slices.Equal(got, want) {
		t.Errorf("referral bonuses %v, want %v", got, want)
	}
	e.WantLots(t, "R", "2027-04-01:0", "2027-04-01:500", "2027-04-01:500")
	e.WantBalanceOf(t, "customer:R:points", "1000")
	e.WantBalanceOf(t, "platform:points:earned:referral", "-1000")
	if got := e.statementLines("R"); len(got) == 0 || got[0] != "500 referral points cancelled: E1's shipment SE1 refunded in full" {
		t.Errorf("referrer statement %q, want it to start with E1's cancellation", got)
	}
	e.Reconcile()
}
