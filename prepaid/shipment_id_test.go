package prepaid_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/prepaid"
)

// A charge records the shipment it paid for, in the movement and in its
// entry's metadata; a movement sent without one records none; a charge for
// a malformed shipment id is refused naming that field, and nothing is
// written.
func TestChargeRecordsTheShipmentItPaidFor(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	dep := e.MoneyAt(t, prepaid.Deposit, "d1", "C1", "500", march(15, 11))
	if dep.ShipmentID != nil {
		t.Errorf("a deposit sent without a shipment records shipment %q", *dep.ShipmentID)
	}
	chg, _, err := e.Prepaid.Charge(e.Ctx, prepaid.MoneyInput{ID: "c1", CustomerID: "C1", Amount: d("150.00"),
		ShipmentID: "SF1234567890"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if chg.ShipmentID == nil || *chg.ShipmentID != "SF1234567890" {
		t.Errorf("the charge answers shipment %v, want SF1234567890", chg.ShipmentID)
	}
	var meta struct {
		ShipmentID *string `json:"shipment_id"`
	}
	if err := json.Unmarshal(e.Entry(chg.EntryID).Metadata, &meta); err != nil || meta.ShipmentID == nil ||
		*meta.ShipmentID != "SF1234567890" {
		t.Errorf("the charge's entry records shipment %v (%v), want SF1234567890", meta.ShipmentID, err)
	}
	if err := json.Unmarshal(e.Entry(dep.EntryID).Metadata, &meta); err != nil || meta.ShipmentID != nil {
		t.Errorf("the deposit's entry records shipment %v (%v), want none", meta.ShipmentID, err)
	}

	_, _, err = e.Prepaid.Charge(e.Ctx, prepaid.MoneyInput{ID: "c2", CustomerID: "C1", Amount: d("1.00"),
		ShipmentID: "not a shipment id"}, "test")
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != fault.Invalid || !slices.Equal(slices.Sorted(maps.Keys(fe.Fields)), []string{"shipment_id"}) {
		t.Fatalf("a charge for a malformed shipment: %v, want invalid naming shipment_id alone", err)
	}
	var n int
	e.Scan(t, `SELECT count(*) FROM money_movements WHERE kind = 'charge'`, &n)
	if n != 1 {
		t.Errorf("%d charges recorded, want the refused one not written", n)
	}
}
