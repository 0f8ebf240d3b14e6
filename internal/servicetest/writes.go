package servicetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/tally-ledger/tally/catalog"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/loyalty"
	"github.com/tally-ledger/tally/prepaid"
)

// Customer creates the customer id, referred by referredBy[0] if given.
func (e *Env) Customer(id string, referredBy ...string) {
	e.T.Helper()
	c := loyalty.Customer{ID: id, Name: "Customer " + id}
	if len(referredBy) > 0 {
		c.ReferredBy = &referredBy[0]
	}
	if _, _, err := e.Loyalty.CreateCustomer(e.Ctx, c); err != nil {
		e.T.Fatalf("create customer %s: %v", id, err)
	}
}

// Event is a partner event with a fresh id (ev-1, ev-2, ... in this Env);
// amount "" is none.
func (e *Env) Event(typ, customer, shipment, amount string, at time.Time) loyalty.Event {
	ev := loyalty.Event{EventID: fmt.Sprintf("ev-%d", e.seq.Add(1)), Type: typ, CustomerID: customer,
		ShipmentID: shipment, OccurredAt: at}
	if amount != "" {
		a := D(amount)
		ev.Amount = &a
	}
	return ev
}

// ProcessBatch sends the events as the partner key, along Send.
func (e *Env) ProcessBatch(key ledger.APIKey, events []loyalty.Event) []loyalty.Outcome {
	return e.Send(e.Ctx, key, "test", events)
}

// ProcessAs sends one event as the partner key.
func (e *Env) ProcessAs(key ledger.APIKey, ev loyalty.Event) loyalty.Outcome {
	return e.ProcessBatch(key, []loyalty.Event{ev})[0]
}

// Process sends one event as the Env's partner key.
func (e *Env) Process(ev loyalty.Event) (loyalty.Result, error) {
	o := e.ProcessAs(e.Key, ev)
	return o.Result, o.Err
}

// MustProcess sends one event, failing the test if it is refused.
func (e *Env) MustProcess(ev loyalty.Event) loyalty.Result {
	e.T.Helper()
	res, err := e.Process(ev)
	if err != nil {
		e.T.Fatalf("%s %s: %v", ev.Type, ev.ShipmentID, err)
	}
	return res
}

// Ship completes the customer's shipment of amount at at.
func (e *Env) Ship(customer, shipment, amount string, at time.Time) loyalty.Result {
	e.T.Helper()
	return e.MustProcess(e.Event(loyalty.ShipmentCompleted, customer, shipment, amount, at))
}

// Product adds p to the catalogue.
func (e *Env) Product(p catalog.Product) {
	e.T.Helper()
	if _, err := e.Catalog.CreateProduct(e.Ctx, p); err != nil {
		e.T.Fatalf("product %s: %v", p.SKU, err)
	}
}

var redemptionSeq atomic.Int64

// Redeem redeems q of the product sku for the customer, under a fresh id.
func (e *Env) Redeem(customer, sku string, q int) (catalog.Redemption, error) {
	r, _, err := e.Catalog.Redeem(e.Ctx, catalog.RedemptionInput{ID: fmt.Sprintf("r-%d", redemptionSeq.Add(1)),
		CustomerID: customer, SKU: sku, Quantity: q}, "test")
	return r, err
}

var moneySeq atomic.Int64

// Money records a movement of the kind (prepaid.Deposit, Charge or
// Withdrawal) under a fresh id, for shipment S1, a minute before now.
func (e *Env) Money(kind, customer, amount string) (prepaid.MoneyMovement, error) {
	return e.Move(kind, prepaid.MoneyInput{ID: fmt.Sprintf("%s-%d", kind, moneySeq.Add(1)), CustomerID: customer,
		Amount: D(amount), OccurredAt: e.Clock.Now().Add(-time.Minute), ShipmentID: "S1"})
}

// MustMoney is Money, failing the test if the movement is refused.
func (e *Env) MustMoney(kind, customer, amount string) prepaid.MoneyMovement {
	e.T.Helper()
	m, err := e.Money(kind, customer, amount)
	if err != nil {
		e.T.Fatalf("%s %s %s: %v", kind, customer, amount, err)
	}
	return m
}

// MoneyAt records the movement id of the kind that occurred at at, with no
// shipment, failing the test if it is refused.
func (e *Env) MoneyAt(t testing.TB, kind, id, customer, amount string, at time.Time) prepaid.MoneyMovement {
	t.Helper()
	m, err := e.Move(kind, prepaid.MoneyInput{ID: id, CustomerID: customer, Amount: D(amount), OccurredAt: at})
	if err != nil {
		t.Fatalf("%s %s: %v", kind, id, err)
	}
	return m
}

// Move records the movement in of the kind (prepaid.Deposit, Charge or
// Withdrawal), by the actor "test".
func (e *Env) Move(kind string, in prepaid.MoneyInput) (m prepaid.MoneyMovement, err error) {
	switch kind {
	case prepaid.Deposit:
		m, _, err = e.Prepaid.Deposit(e.Ctx, in, "test")
	case prepaid.Charge:
		m, _, err = e.Prepaid.Charge(e.Ctx, in, "test")
	case prepaid.Withdrawal:
		m, _, err = e.Prepaid.Withdraw(e.Ctx, in, "test")
	default:
		e.T.Fatalf("no movement of kind %q", kind)
	}
	return m, err
}

// Execer is what runs a statement: a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// HandShipment writes by hand, as a broken or a concurrent writer would, a
// shipment of customer naming entry (0: none), in an event row of its own
// (event id "hand-" + id, recorded under the first API key, in its space):
// none of its effects are written. For tests of what the service and
// reconciliation make of such a row.
func HandShipment(ctx context.Context, db Execer, id, customer string, entry int64) error {
	_, err := db.Exec(ctx, `INSERT INTO events (key_id, space, event_id, type, customer_id, request_hash, result, entry_id,
    shipment_id, amount, refunded, occurred_at, month, points_volume, points_campaign, points_reversed, points_dropped,
    points_owed, rule_version)
SELECT k.id, CASE WHEN k.partner_id IS NOT NULL THEN 'partner:' || k.partner_id -- ledger.APIKey.Space
                  WHEN k.customer_id IS NOT NULL THEN 'customer:' || k.customer_id ELSE 'key:' || k.id END,
    'hand-' || $1, 'shipment.completed', $2, '\x00', '{}', nullif($3::bigint, 0),
    $1, 10, 0, now(), to_char(now(), 'YYYY-MM'), 0, 0, 0, 0, 0, 1
FROM (SELECT * FROM api_keys ORDER BY id LIMIT 1) k`, id, customer, entry)
	return err
}
