package loyalty_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// owedCheck is the owed_within_due check of a reconciliation that runs
// loyalty's OwedCheck.
func (e *env) owedCheck() ledger.Check {
	e.T.Helper()
	r, err := e.Ledger.Reconcile(e.Ctx, e.Loyalty.OwedCheck)
	if err != nil {
		e.T.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name == "owed_within_due" {
			return c
		}
	}
	e.T.Fatal("no owed_within_due check")
	return ledger.Check{}
}

func (e *env) exec(q string, args ...any) {
	e.T.Helper()
	if _, err := e.Pool.Exec(e.Ctx, q, args...); err != nil {
		e.T.Fatalf("%s: %v", q, err)
	}
}

// The owed check names a refund whose owed row disagrees with what its
// entry posted, and a settlement whose row disagrees with its entry (and
// the refund it settled, whose settlements no longer add up), and nothing
// while the rows agree with the books.
func TestOwedCheckNamesRowsThatDisagreeWithTheirEntries(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("owed and settlement rows changed behind the ledger's back, on purpose")
	// DOMAIN.md: 100 points earned, 90 redeemed, the shipment refunded takes
	// back the 10 left and owes 90; the redemption's 90 come back and settle it.
	e.Customer("C1")
	e.Ship("C1", "S1", "100", march(1, 9))
	e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90})
	r, err := e.Redeem("C1", "mug", 1)
	if err != nil {
		t.Fatal(err)
	}
	refund := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "C1", "S1", "100", march(2, 9)))
	if _, err := e.Catalog.CancelRedemption(e.Ctx, "", r.ID, "changed my mind", "test"); err != nil {
		t.Fatal(err)
	}
	var settlement int64
	e.Scan(t, `SELECT settlement_entry_id FROM points_settlements`, &settlement)
	refundName := fmt.Sprintf("refund:%d:C1", *refund.EntryID)
	settlementName := fmt.Sprintf("settlement:%d", settlement)

	if c := e.owedCheck(); !c.Pass || len(c.Offending) != 0 {
		t.Fatalf("rows that agree with the books: %+v", c)
	}
	e.exec(`UPDATE points_owed SET due = 101`) // 10 taken back + 90 owed is not 101
	if c := e.owedCheck(); c.Pass || !slices.Equal(c.Offending, []string{refundName}) {
		t.Errorf("a refund due more than it posted: %+v, want %s named", c, refundName)
	}
	e.exec(`UPDATE points_owed SET due = 100`)
	e.exec(`UPDATE points_settlements SET points = 89`) // its entry moved 90
	if c := e.owedCheck(); c.Pass || !slices.Equal(c.Offending, []string{refundName, settlementName}) {
		t.Errorf("a settlement of 89 whose entry moved 90: %+v, want %s and %s named", c, refundName, settlementName)
	}
}

// The owed check reads every page of the refunds that left a shortfall: with
// one more than a page of them (1001 refunds of a 1-point shipment each,
// after every point was redeemed) it passes, the balance owed agreeing with
// all of them; and with every row wrong it names the first 100, no more.
func TestOwedCheckReadsEveryPageAndNamesAtMost100(t *testing.T) {
	e := newEnv(t)
	e.BreaksBooks("owed rows changed behind the ledger's back, on purpose")
	const n = 1001
	e.Customer("C1")
	var ships, refunds []loyalty.Event
	for i := range n {
		id := fmt.Sprintf("S%04d", i)
		ships = append(ships, e.Event(loyalty.ShipmentCompleted, "C1", id, "1", march(1, 9)))
		refunds = append(refunds, e.Event(loyalty.ShipmentRefunded, "C1", id, "1", march(2, 9)))
	}
	send := func(events []loyalty.Event) {
		t.Helper()
		for len(events) > 0 {
			batch := events[:min(500, len(events))]
			for _, o := range e.ProcessBatch(e.Key, batch) {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
			}
			events = events[len(batch):]
		}
	}
	send(ships) // floating and regular x1.0: 1 point each
	e.Product(catalog.Product{SKU: "all", Name: "All of it", Kind: catalog.Standard, PointsPrice: n})
	if _, err := e.Redeem("C1", "all", 1); err != nil {
		t.Fatal(err)
	}
	send(refunds) // each due 1, owed 1
	e.wantPoints(t, "C1", 0, n)
	if got := e.TableRows("points_owed"); got != n {
		t.Fatalf("%d rows owed, want %d", got, n)
	}
	if c := e.owedCheck(); !c.Pass || len(c.Offending) != 0 {
		t.Fatalf("%d refunds owed as the books say: %+v", n, c)
	}

	e.exec(`UPDATE points_owed SET due = 2`) // each posted 1
	want := e.Lines(`SELECT 'refund:' || refund_entry_id || ':C1' FROM points_owed ORDER BY refund_entry_id LIMIT 100`)
	if c := e.owedCheck(); c.Pass || !slices.Equal(c.Offending, want) {
		t.Errorf("every refund wrong: %d named (%s ... %s), want the first 100", len(c.Offending),
			strings.Join(c.Offending[:min(1, len(c.Offending))], ""), strings.Join(c.Offending[max(0, len(c.Offending)-1):], ""))
	}
}
