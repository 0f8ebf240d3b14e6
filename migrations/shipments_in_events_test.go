package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/loyalty"
)

// eventColumns are the columns events had before 0028.
const eventColumns = `SELECT key_id, space, event_id, type, customer_id, request_hash, result, entry_id, created_at FROM events`

// Migration 0028, applied to a database the services wrote to (shipments
// in batches, referral bonuses, a partial refund, a rating, redemptions,
// money): every shipment reads as it was, now from its event's row; the
// events' own columns and every other table are as they were. The
// services go on writing books that prove, a second event of a shipment
// is refused, and rolled back the shipments are a table again, rows
// intact.
func TestShipmentsInEventsMigrationKeepsEveryShipment(t *testing.T) {
	ctx := context.Background()
	url, m, pool, e := schemaAt(t, 27)
	atHead(t, m, 27, func() {
		writeBusiness(t, e, "before")
		rate := e.Event(loyalty.FeedbackSubmitted, "C02", "before-S2", "", servicetest.March(12, 9))
		rating := 5
		rate.Amount, rate.Rating = nil, &rating
		e.MustProcess(rate)
	})
	before := tableDigests(t, pool)
	if !strings.HasPrefix(before["shipments"], "60 rows") || strings.HasPrefix(before["referral_bonuses"], "0 rows") {
		t.Fatalf("at 0027: shipments %s, referral_bonuses %s; want 60 shipments and some bonuses",
			before["shipments"], before["referral_bonuses"])
	}
	var rated int
	e.Scan(t, `SELECT count(*) FROM shipments WHERE rated_at IS NOT NULL AND refunded = 0`, &rated)
	var refunded int
	e.Scan(t, `SELECT count(*) FROM shipments WHERE refunded > 0 AND points_reversed > 0`, &refunded)
	if rated != 1 || refunded != 1 {
		t.Fatalf("at 0027: %d shipments rated, %d refunded; want one each", rated, refunded)
	}
	eventsBefore := digestOf(t, pool, eventColumns)

	if err := m.Migrate(28); err != nil {
		t.Fatalf("0028 up: %v", err)
	}
	after := tableDigests(t, pool)
	if _, ok := after["shipments"]; ok {
		t.Errorf("after 0028 shipments is still a table")
	}
	if got := digestOf(t, pool, `SELECT * FROM shipments`); got != before["shipments"] {
		t.Errorf("after 0028 the shipments read %s, were %s", got, before["shipments"])
	}
	if got := digestOf(t, pool, eventColumns); got != eventsBefore {
		t.Errorf("after 0028 the events' own columns are %s, were %s", got, eventsBefore)
	}
	for table, b := range before {
		if table != "shipments" && table != "events" && after[table] != b {
			t.Errorf("after 0028 %s is %s, was %s", table, after[table], b)
		}
	}
	// Each shipment is in the row of the event that completed it.
	var misplaced int
	e.Scan(t, `SELECT count(*) FROM events WHERE shipment_id IS NOT NULL
    AND (type <> 'shipment.completed' OR result ->> 'shipment_id' <> shipment_id OR result ->> 'entry_id' <> entry_id::text)`, &misplaced)
	if misplaced != 0 {
		t.Errorf("%d shipments in the row of another event", misplaced)
	}

	// The services write on it (on their own schema, the latest, migrated
	// back to 0028 after), and the books prove.
	atHead(t, m, 28, func() { writeBusiness(t, e, "after") })
	proveBooks(t, m, e, url)
	// A second row of a shipment is refused, and a bonus of no shipment.
	var pe *pgconn.PgError
	if err := servicetest.HandShipment(ctx, pool, "after-S3", "C03", 0); !errors.As(err, &pe) ||
		pe.Code != "23505" || pe.ConstraintName != "events_shipment_id_key" {
		t.Errorf("a second row of shipment after-S3: %v, want 23505 on events_shipment_id_key", err)
	}
	_, err := pool.Exec(ctx, `INSERT INTO referral_bonuses (referee_id, referrer_id, shipment_id, month, status, points, available_at)
VALUES ('C07', 'C00', 'NO-SUCH', '2026-03', 'paid', 500, now())`)
	if !errors.As(err, &pe) || pe.Code != "23503" || pe.ConstraintName != "referral_bonuses_shipment_id_fkey" {
		t.Errorf("a bonus of no shipment: %v, want 23503 on referral_bonuses_shipment_id_fkey", err)
	}

	// Rolled back: a table again, with every shipment.
	shipmentsAt28, eventsAt28 := digestOf(t, pool, `SELECT * FROM shipments`), digestOf(t, pool, eventColumns)
	if err := m.Steps(-1); err != nil {
		t.Fatalf("0028 down: %v", err)
	}
	down := tableDigests(t, pool)
	if down["shipments"] != shipmentsAt28 || !strings.HasPrefix(shipmentsAt28, "120 rows") {
		t.Errorf("after 0028 down the shipments table is %s, want the %s read before", down["shipments"], shipmentsAt28)
	}
	if got := digestOf(t, pool, eventColumns); got != eventsAt28 {
		t.Errorf("after 0028 down the events are %s, were %s", got, eventsAt28)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// A shipment without its event, which the service never writes, stops
// migration 0028 with its name, and nothing of it is written.
func TestShipmentsInEventsMigrationStopsAtAShipmentWithoutItsEvent(t *testing.T) {
	ctx := context.Background()
	_, m, pool, e := schemaAt(t, 27)
	e.Customer("C1")
	if _, err := pool.Exec(ctx, `INSERT INTO shipments (shipment_id, customer_id, amount, occurred_at, month,
    points_volume, points_campaign, rule_version) VALUES ('S-LOST', 'C1', 10, now(), '2026-03', 10, 0, 1)`); err != nil {
		t.Fatal(err)
	}
	before := tableDigests(t, pool)
	err := m.Migrate(28)
	if err == nil || !strings.Contains(err.Error(), "shipment S-LOST has no shipment.completed event") {
		t.Fatalf("0028 over a shipment without its event: %v, want it stopped naming S-LOST", err)
	}
	wantSameRows := func() {
		t.Helper()
		after := tableDigests(t, pool)
		for table, b := range before {
			if after[table] != b {
				t.Errorf("after the stopped 0028 %s is %s, was %s", table, after[table], b)
			}
		}
	}
	wantSameRows()
	var columns int
	e.Scan(t, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'shipment_id'`, &columns)
	if columns != 0 {
		t.Errorf("the stopped 0028 left events with a shipment_id column")
	}
	e.BreaksBooks("the shipment is written by hand, without its event")
}

// digestOf is the row count and a digest of the rows (as text, sorted) of
// query, as tableDigests gives a table's.
func digestOf(t *testing.T, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var count int64
	var digest string
	if err := pool.QueryRow(context.Background(), `SELECT count(*), coalesce(md5(string_agg(r::text, E'\n' ORDER BY r::text)), '')
FROM (`+query+`) r`).Scan(&count, &digest); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d rows %s", count, digest)
}
