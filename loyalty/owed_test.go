package loyalty_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// The points a refund could not take back are owed (DOMAIN.md, "Returns and
// pending points"): balances never go below zero, and the next points that
// reach the customer settle what they owe first, each settlement an entry
// of its own.

// owedRow is a refund's row of points_owed: due, owed and settled.
type owedRow struct{ due, owed, settled int64 }

func (e *env) owedRows(customer string) []owedRow {
	e.T.Helper()
	rows, err := e.Pool.Query(e.Ctx, `SELECT due, owed, settled FROM points_owed WHERE customer_id = $1
ORDER BY refund_entry_id`, customer)
	if err != nil {
		e.T.Fatal(err)
	}
	defer rows.Close()
	var out []owedRow
	for rows.Next() {
		var r owedRow
		if err := rows.Scan(&r.due, &r.owed, &r.settled); err != nil {
			e.T.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// wantPoints checks the customer's points balance and what they owe, as
// their balances answer them and as the books hold them.
func (e *env) wantPoints(t *testing.T, customer string, balance, owed int64) {
	t.Helper()
	b := e.Balances(t, customer)
	if b.Points.Balance != balance || b.Points.Owed != owed {
		t.Errorf("%s: balance %d, owed %d; want %d and %d", customer, b.Points.Balance, b.Points.Owed, balance, owed)
	}
	e.WantBalanceOf(t, ledger.CustomerAccount(customer, "points"), fmt.Sprint(balance))
	e.WantBalanceOf(t, ledger.CustomerAccount(customer, "points_owed"), fmt.Sprint(-owed))
}

// Redeem, get the shipment refunded, cancel the redemption: the points the
// cancellation returns settle the refund's shortfall, so the refunded
// shipment's points do not stay with the customer.
func TestRedeemRefundCancelLeavesTheRefundedPointsSettled(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9)) // floating x1.0: 100 points
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90})
	r, err := e.Redeem("C1", "mug", 1)
	if err != nil {
		t.Fatal(err)
	}
	res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(2, 9)))
	if res.Refund.PointsDue != 100 || res.Refund.PointsTakenBack != 10 || res.Refund.PointsOwed != 90 || res.Points != -10 {
		t.Errorf("refund %+v, points %d; want 100 due, 10 taken back, 90 owed", res.Refund, res.Points)
	}
	e.wantPoints(t, "C1", 0, 90)

	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "changed my mind", "test"); err != nil {
		t.Fatal(err)
	}
	e.wantPoints(t, "C1", 0, 0)
	if got := e.owedRows("C1"); !slices.Equal(got, []owedRow{{100, 90, 90}}) {
		t.Errorf("points_owed %v, want the refund's 90 settled", got)
	}
	// The platform got back all the refund was due: the shipment's volume
	// points net to zero.
	e.WantBalanceOf(t, "platform:points:earned:volume", "0")
	want := []string{
		"90 points settle what refunds could not take back (90 for shipment S1)",
		"90 points returned: redemption cancelled (changed my mind)",
		"10 points taken back for the refund of shipment S1; 90 more owed, settled from the next points you receive",
		"90 points redeemed for 1 x Mug (mug)",
		"100 points for shipment S1 (floating x1)",
	}
	if got := e.statementLines("C1"); !slices.Equal(got, want) {
		t.Errorf("statement\n%s", servicetest.DiffLines(got, want))
	}
	e.Reconcile()
}

// New earnings settle what is owed before the customer can spend them, on
// the grouped path and on the path of one event at a time; so do the
// points a rating earns.
func TestNewEarningsSettleOwedFirst(t *testing.T) {
	for _, alone := range []bool{false, true} {
		t.Run(fmt.Sprintf("EventByEvent=%v", alone), func(t *testing.T) {
			e := newEnv(t)
			e.sendEventByEvent(alone)
			e.Customer("C1")
			e.Ship("C1", "S1", "100", march(1, 9))
			e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90})
			if _, err := e.Redeem("C1", "mug", 1); err != nil {
				t.Fatal(err)
			}
			e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(2, 9)))
			e.wantPoints(t, "C1", 0, 90)

			// Two shipments in one batch: 50 settle 50, then 60 settle the last 40.
			outs := e.Send(e.Ctx, e.Key, "test", []loyalty.Event{
				e.Event(loyalty.ShipmentCompleted, "C1", "S2", "50", march(3, 9)),
				e.Event(loyalty.ShipmentCompleted, "C1", "S3", "60", march(3, 10)),
			})
			for _, o := range outs {
				if o.Err != nil || o.Result.Points <= 0 {
					t.Fatalf("shipment: %+v", o)
				}
			}
			e.wantPoints(t, "C1", 20, 0)
			if p := e.Balances(t, "C1").Points; p.Available != 20 {
				t.Errorf("available %d, want 20", p.Available)
			}

			// Owe again, then a rating's 10 points settle 10 of it.
			e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S3", "60", march(4, 9)))
			e.wantPoints(t, "C1", 0, 40)
			rate := e.Event(loyalty.FeedbackSubmitted, "C1", "S2", "", march(5, 9))
			rate.Amount, rate.Rating = nil, ptr(5)
			e.MustProcess(rate)
			e.wantPoints(t, "C1", 0, 30)
			if got := e.owedRows("C1"); !slices.Equal(got, []owedRow{{100, 90, 90}, {60, 40, 10}}) {
				t.Errorf("points_owed %v", got)
			}
			e.Reconcile()
		})
	}
}

// A referral bonus that becomes available reaches the referrer: it settles
// what they owe before they can spend it. Until their next write settles
// it, their available points are shown net of what they owe.
func TestReferralBonusBecomingAvailableSettlesOwed(t *testing.T) {
	e := newEnv(t)
	e.Customer("R")
	e.Customer("E", "R")
	e.Ship("R", "SR", "100", march(1, 9))
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 100})
	e.Product(catalog.Product{SKU: "hat", Name: "Hat", Kind: catalog.Standard, PointsPrice: 410})
	if _, err := e.Redeem("R", "mug", 1); err != nil {
		t.Fatal(err)
	}
	e.MustProcess(e.Event(loyalty.ShipmentRefunded, "R", "SR", "90", march(2, 9))) // 90 due, none held
	e.Ship("E", "SE", "80", march(10, 9))                                          // R's 500, pending until March 24
	if p := e.Balances(t, "R").Points; p.Pending != 500 || p.Available != 0 || p.Owed != 90 {
		t.Errorf("before the window ends: %+v, want 500 pending, 90 owed", p)
	}
	// A pending bonus settles nothing: a rating of R's earns 10 at once.
	rate := e.Event(loyalty.FeedbackSubmitted, "R", "SR", "", march(11, 9))
	rate.Amount, rate.Rating = nil, ptr(4)
	e.MustProcess(rate)
	e.wantPoints(t, "R", 500, 80)

	e.Clock.Set(march(25, 9))
	if p := e.Balances(t, "R").Points; p.Available != 420 || p.Owed != 80 || p.Balance != 500 {
		t.Errorf("bonus available: %+v, want 420 available (500 less the 80 owed)", p)
	}
	if _, err := e.Redeem("R", "hat", 2); fault.CodeOf(err) != fault.InsufficientPoints {
		t.Errorf("redeeming 820 of 420 spendable: %v, want insufficient_points", err)
	}
	if _, err := e.Redeem("R", "hat", 1); err != nil {
		t.Fatalf("redeeming 410 of 420 spendable: %v", err)
	}
	e.wantPoints(t, "R", 10, 0)
	if got := e.owedRows("R"); !slices.Equal(got, []owedRow{{90, 90, 90}}) {
		t.Errorf("points_owed %v", got)
	}
	e.Reconcile()
}

// Several refunds owed are settled oldest first, each settlement naming
// the refunds it settles.
func TestSeveralRefundsOwedAreSettledOldestFirst(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9))
	e.Ship("C1", "S2", "50", march(1, 10))
	e.Product(catalog.Product{SKU: "lamp", Name: "Lamp", Kind: catalog.Standard, PointsPrice: 150})
	if _, err := e.Redeem("C1", "lamp", 1); err != nil {
		t.Fatal(err)
	}
	older := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S2", "50", march(2, 9)))
	newer := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(2, 10)))
	e.wantPoints(t, "C1", 0, 150)

	e.Ship("C1", "S3", "80", march(3, 9))
	if got := e.owedRows("C1"); !slices.Equal(got, []owedRow{{50, 50, 50}, {100, 100, 30}}) {
		t.Errorf("after 80 points: points_owed %v, want the older refund settled first", got)
	}
	e.Ship("C1", "S4", "100", march(3, 10))
	e.wantPoints(t, "C1", 30, 0)
	if got := e.owedRows("C1"); !slices.Equal(got, []owedRow{{50, 50, 50}, {100, 100, 100}}) {
		t.Errorf("after 100 more: points_owed %v", got)
	}
	got := e.Lines(`SELECT string_agg(s->>'refund_entry_id' || ':' || (s->>'points'), ' ' ORDER BY e.id, ord)
FROM entries e, jsonb_array_elements(e.metadata->'settles') WITH ORDINALITY AS x (s, ord)
WHERE e.kind = $1`, loyalty.KindSettlement)
	want := fmt.Sprintf("%d:50 %d:30 %d:70", *older.EntryID, *newer.EntryID, *newer.EntryID)
	if len(got) != 1 || got[0] != want {
		t.Errorf("settlements %v, want %q", got, want)
	}
	e.Reconcile()
}

// Many goroutines refund, earn, redeem and cancel for the same customers at
// once. Then, per customer, what they hold less what they owe is what the
// acknowledged answers say they earned less what refunds were due and what
// they kept redeemed; they never both hold available points and owe; and
// the books (reconciliation: take-back plus settlements within what each
// refund was due, owed never negative, lots equal balances) hold.
func TestConcurrentRefundsEarningsAndCancellationsKeepOwedPointsRight(t *testing.T) {
	e := newEnv(t)
	customers := []string{"C0", "C1", "C2", "C3"}
	for _, c := range customers {
		e.Customer(c)
	}
	e.Product(catalog.Product{SKU: "pen", Name: "Pen", Kind: catalog.Standard, PointsPrice: 30})
	const workers = 16 // four per customer; a customer ships 4 x 60 a month: floating, x1.0
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		net = map[string]int64{}
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := customers[w%len(customers)]
			at := march(2+w%10, 9).Add(time.Duration(w) * time.Minute)
			var held int64 // what this worker's answers say it moved
			send := func(typ, shipment, amount string, at time.Time) *loyalty.Result {
				outs := e.Send(e.Ctx, e.Key, "test", []loyalty.Event{e.Event(typ, c, shipment, amount, at)})
				if outs[0].Err != nil {
					t.Errorf("%s %s: %v", typ, shipment, outs[0].Err)
					return nil
				}
				return &outs[0].Result
			}
			first, second := fmt.Sprintf("S%d-1", w), fmt.Sprintf("S%d-2", w)
			if r := send(loyalty.ShipmentCompleted, first, "40", at); r != nil {
				held += r.Earning.Points
			}
			red, redErr := e.Redeem(c, "pen", 1)
			if redErr == nil {
				held -= 30
			} else if fault.CodeOf(redErr) != fault.InsufficientPoints {
				t.Errorf("redeem: %v", redErr)
			}
			if r := send(loyalty.ShipmentRefunded, first, "40", at.Add(time.Second)); r != nil {
				held -= r.Refund.PointsDue
			}
			if r := send(loyalty.ShipmentCompleted, second, "20", at.Add(2*time.Second)); r != nil {
				held += r.Earning.Points
			}
			if redErr == nil && w%2 == 0 {
				if _, err := e.Catalog.CancelRedemption(e.Ctx, "", red.ID, "", "test"); err != nil {
					t.Errorf("cancel: %v", err)
				}
				held += 30
			}
			mu.Lock()
			net[c] += held
			mu.Unlock()
		}()
	}
	wg.Wait()
	if e.TableRows("points_owed") == 0 || e.TableRows("points_settlements") == 0 {
		t.Errorf("%d refunds owed, %d settlements: the run never met the case it is about",
			e.TableRows("points_owed"), e.TableRows("points_settlements"))
	}
	for _, c := range customers {
		b := e.Balances(t, c).Points
		if b.Balance-b.Owed != net[c] || b.Owed < 0 || b.Balance < 0 || (b.Owed > 0 && b.Balance > 0) {
			t.Errorf("%s: balance %d, owed %d; the answers say %d net, and no one holds points while owing",
				c, b.Balance, b.Owed, net[c])
		}
	}
	e.Reconcile()
}

// The prose example of docs/RULES.md after the take-back table: the mid
// customer's 123.45 shipment earned 148; holding 20 when the refund of
// 23.45 arrives, they give back 20 and owe 8; the refund of the remaining
// 100.00 asks for 120, all owed; the next 128 points settle both, the 8
// first.
func TestRefundShortfallIsOwedAsTheRulesSay(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Ship("C1", "S0", "5000", time.Date(2026, 2, 10, 9, 0, 0, 0, shanghai)) // 5000 points; mid for March
	e.Ship("C1", "S1", "123.45", march(10, 9))                               // 148
	e.Product(catalog.Product{SKU: "tv", Name: "TV", Kind: catalog.Standard, PointsPrice: 5128})
	if _, err := e.Redeem("C1", "tv", 1); err != nil {
		t.Fatal(err)
	}
	first := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "23.45", march(11, 9)))
	if r := first.Refund; r.PointsDue != 28 || r.PointsTakenBack != 20 || r.PointsOwed != 8 {
		t.Errorf("refund of 23.45 holding 20: %+v, want 28 due, 20 taken back, 8 owed", r)
	}
	rest := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(11, 10)))
	if r := rest.Refund; r.PointsDue != 120 || r.PointsTakenBack != 0 || r.PointsOwed != 120 {
		t.Errorf("refund of the remaining 100.00: %+v, want 120 due, all owed", r)
	}
	e.wantPoints(t, "C1", 0, 128)
	e.Ship("C1", "S2", "100", march(12, 9)) // mid: 120 points settle the 8, then 112 of the 120
	if got := e.owedRows("C1"); !slices.Equal(got, []owedRow{{28, 8, 8}, {120, 120, 112}}) {
		t.Errorf("points_owed %v", got)
	}
	e.wantPoints(t, "C1", 0, 8)
	e.Reconcile()
}
