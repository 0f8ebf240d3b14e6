package migrations_test

import (
	"strings"
	"testing"

	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
)

// Migration 0028 on the rows refunds leave behind: a shortfall owed (a
// points_owed row naming its shipment), a referral bonus cancelled by a
// full refund, a shipment of no points (no entry) completed through
// another partner and rated: every shipment, owed row and bonus reads as
// it was. Then the next points settle what is owed, the other partner's
// shipment is refunded, the books prove, and down and up again keep the
// shipments as they read.
func TestShipmentsInEventsMigrationKeepsWhatRefundsLeft(t *testing.T) {
	march := servicetest.March
	url, m, pool, e := schemaAt(t, 27)
	_, other, err := e.Ledger.CreateKey(e.Ctx, "second partner", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	atHead(t, m, 27, func() {
		e.Customer("R")
		e.Customer("E", "R")
		e.Customer("F")
		e.Product(catalog.Product{SKU: "mug", Name: "Mug", Kind: catalog.Standard, PointsPrice: 90, Active: true})
		e.Ship("E", "SE", "100", march(1, 9)) // 100 points, and R's bonus
		if _, err := e.Redeem("E", "mug", 1); err != nil {
			t.Fatal(err)
		}
		res := e.MustProcess(e.Event(loyalty.ShipmentRefunded, "E", "SE", "100", march(2, 9)))
		if res.Refund.PointsOwed != 90 || res.Referral == nil || res.Referral.Status != "cancelled" {
			t.Fatalf("refund of SE: %+v, referral %+v; want 90 owed and the bonus cancelled", res.Refund, res.Referral)
		}
		if o := e.ProcessAs(other, e.Event(loyalty.ShipmentCompleted, "F", "SF", "0.50", march(3, 9))); o.Err != nil ||
			o.Result.EntryID != nil {
			t.Fatalf("shipment SF of no points: %+v, %v; want it recorded without an entry", o.Result, o.Err)
		}
		rate := e.Event(loyalty.FeedbackSubmitted, "F", "SF", "", march(3, 10))
		five := 5
		rate.Rating = &five
		if o := e.ProcessAs(other, rate); o.Err != nil {
			t.Fatal(o.Err)
		}
	})
	var owed, cancelled, entryless int
	e.Scan(t, `SELECT (SELECT count(*) FROM points_owed WHERE shipment_id = 'SE'),
    (SELECT count(*) FROM referral_bonuses WHERE shipment_id = 'SE' AND status = 'cancelled'),
    (SELECT count(*) FROM shipments WHERE entry_id IS NULL AND rated_at IS NOT NULL)`, &owed, &cancelled, &entryless)
	if owed != 1 || cancelled != 1 || entryless != 1 {
		t.Fatalf("at 0027: %d owed rows, %d cancelled bonuses, %d rated shipments of no entry; want one each", owed, cancelled, entryless)
	}
	before := tableDigests(t, pool)
	if err := m.Migrate(28); err != nil {
		t.Fatalf("0028 up: %v", err)
	}
	if got := digestOf(t, pool, `SELECT * FROM shipments`); got != before["shipments"] {
		t.Errorf("after 0028 the shipments read %s, were %s", got, before["shipments"])
	}
	after := tableDigests(t, pool)
	for _, table := range []string{"points_owed", "referral_bonuses", "points_settlements", "lot_draws", "points_lots"} {
		if after[table] != before[table] {
			t.Errorf("after 0028 %s is %s, was %s", table, after[table], before[table])
		}
	}

	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	e.Ship("E", "SE2", "200", march(5, 9)) // settles the 90 owed first
	var settled int
	e.Scan(t, `SELECT settled FROM points_owed WHERE shipment_id = 'SE'`, &settled)
	if settled != 90 {
		t.Errorf("after 0028 the next points settled %d of the 90 owed", settled)
	}
	if o := e.ProcessAs(other, e.Event(loyalty.ShipmentRefunded, "F", "SF", "0.50", march(6, 9))); o.Err != nil {
		t.Errorf("refund of SF through its partner after 0028: %v", o.Err)
	}
	proveBooks(t, m, e, url)

	shipments := digestOf(t, pool, `SELECT * FROM shipments`)
	if err := m.Migrate(27); err != nil {
		t.Fatalf("down to 0027: %v", err)
	}
	if got := tableDigests(t, pool)["shipments"]; got != shipments || !strings.HasPrefix(got, "3 rows") {
		t.Errorf("after 0028 down the shipments table is %s, want the 3 shipments read before (%s)", got, shipments)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := digestOf(t, pool, `SELECT * FROM shipments`); got != shipments {
		t.Errorf("up again, the shipments read %s, were %s", got, shipments)
	}
}

// A shipment whose row names another customer or entry than its event's
// row (the service writes both from one value; a broken or hand-made
// write may not) stops migration 0028 with its name, nothing written:
// the view would read the event's customer and entry, and the shipment's
// own, which 0028 drops, would be lost without a word.
func TestShipmentsInEventsMigrationStopsAtAShipmentThatDisagreesWithItsEvent(t *testing.T) {
	for _, tc := range []struct{ name, edit string }{
		{"Customer", `UPDATE shipments SET customer_id = 'C2' WHERE shipment_id = 'S1'`},
		{"Entry", `UPDATE shipments SET entry_id = NULL WHERE shipment_id = 'S1'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, m, pool, e := schemaAt(t, 27)
			atHead(t, m, 27, func() {
				e.Customer("C1")
				e.Customer("C2")
				e.Ship("C1", "S1", "100", servicetest.March(1, 9))
			})
			if _, err := pool.Exec(e.Ctx, tc.edit); err != nil {
				t.Fatal(err)
			}
			before := tableDigests(t, pool)
			err := m.Migrate(28)
			if err == nil || !strings.Contains(err.Error(), "shipment S1") {
				t.Fatalf("0028 over a shipment whose %s is not its event's: %v, want it stopped naming S1", tc.name, err)
			}
			for table, b := range before {
				if after := tableDigests(t, pool)[table]; after != b {
					t.Errorf("after the stopped 0028 %s is %s, was %s", table, after, b)
				}
			}
			e.BreaksBooks("the shipment row is edited by hand")
		})
	}
}
