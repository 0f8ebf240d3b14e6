package prepaid_test

import (
	"testing"

	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/prepaid"
)

// TestHistoryListsTheCustomersMovementsLatestFirst: C1 deposits 5,000 on
// March 1 (3%: a rebate of 150.00), is charged 1,000 for shipment S9 on
// March 2 (all principal), which is reversed, withdraws 2,000 on March 3
// (clawback 150 × 2,000 / 5,000 = 60.00); C2 deposits 1,000.
// C1's history is those three, the latest first, each with what DOMAIN.md
// says it records and the charge with its reversal; a limit keeps the
// latest; C2's is its own deposit; an unknown customer's is empty.
func TestHistoryListsTheCustomersMovementsLatestFirst(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	dep := e.MoneyAt(t, prepaid.Deposit, "dep-1", "C1", "5000", march(1, 9))
	charge, _, err := e.Prepaid.Charge(e.Ctx, prepaid.MoneyInput{ID: "chg-1", CustomerID: "C1", Amount: d("1000"),
		OccurredAt: march(2, 9), ShipmentID: "S9"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Charge, "", "chg-1", "shipment cancelled", "test")
	if err != nil || rev.ReversalEntryID == nil {
		t.Fatalf("charge reversal: %+v %v", rev, err)
	}
	wd := e.MoneyAt(t, prepaid.Withdrawal, "wd-1", "C1", "2000", march(3, 9))
	e.MoneyAt(t, prepaid.Deposit, "dep-2", "C2", "1000", march(4, 9))

	history := func(customer string, limit int) []prepaid.MoneyMovement {
		t.Helper()
		h, err := e.Prepaid.History(e.Ctx, customer, limit)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := history("C1", 10)
	if len(h) != 3 {
		t.Fatalf("C1's history has %d movements, want 3: %+v", len(h), h)
	}
	for i, want := range []struct {
		kind, id, amount string
		entry            int64
	}{
		{prepaid.Withdrawal, "wd-1", "2000", wd.EntryID},
		{prepaid.Charge, "chg-1", "1000", charge.EntryID},
		{prepaid.Deposit, "dep-1", "5000", dep.EntryID},
	} {
		if m := h[i]; m.Kind != want.kind || m.ID != want.id || m.CustomerID != "C1" || !m.Amount.Equal(d(want.amount)) ||
			m.EntryID != want.entry || m.RuleVersion != 1 {
			t.Errorf("movement %d: %+v, want %s %s of %s, entry %d", i, m, want.kind, want.id, want.amount, want.entry)
		}
	}
	if !h[0].OccurredAt.Equal(march(3, 9)) || !h[1].OccurredAt.Equal(march(2, 9)) || !h[2].OccurredAt.Equal(march(1, 9)) {
		t.Errorf("occurred at %s, %s, %s; want March 3, 2 and 1 at 09:00", h[0].OccurredAt, h[1].OccurredAt, h[2].OccurredAt)
	}
	servicetest.WantMoney(t, "withdrawal's clawback", h[0].Clawback, "60.00")
	servicetest.WantMoney(t, "charge from principal", h[1].FromPrincipal, "1000")
	servicetest.WantMoney(t, "charge from rebate", h[1].FromRebate, "0")
	servicetest.WantMoney(t, "deposit's rate", h[2].Rate, "0.03")
	servicetest.WantMoney(t, "deposit's rebate", h[2].Rebate, "150.00")
	if h[1].ShipmentID == nil || *h[1].ShipmentID != "S9" || h[0].ShipmentID != nil || h[2].ShipmentID != nil {
		t.Errorf("shipments %v, %v, %v; want the charge's S9 alone", h[0].ShipmentID, h[1].ShipmentID, h[2].ShipmentID)
	}
	if h[1].ReversalEntryID == nil || *h[1].ReversalEntryID != *rev.ReversalEntryID || h[0].ReversalEntryID != nil || h[2].ReversalEntryID != nil {
		t.Errorf("reversals %v, %v, %v; want the charge's, entry %d, alone", h[0].ReversalEntryID, h[1].ReversalEntryID,
			h[2].ReversalEntryID, *rev.ReversalEntryID)
	}
	for _, m := range h {
		if !m.Principal.IsZero() || !m.RebateBalance.IsZero() {
			t.Errorf("%s %s carries balances %s / %s, want them left zero", m.Kind, m.ID, m.Principal, m.RebateBalance)
		}
	}

	if h := history("C1", 2); len(h) != 2 || h[0].ID != "wd-1" || h[1].ID != "chg-1" {
		t.Errorf("C1's latest 2: %+v, want wd-1 and chg-1", h)
	}
	if h := history("C2", 10); len(h) != 1 || h[0].ID != "dep-2" || h[0].CustomerID != "C2" {
		t.Errorf("C2's history: %+v, want its deposit dep-2 alone", h)
	}
	if h := history("NOBODY", 10); len(h) != 0 {
		t.Errorf("an unknown customer's history: %+v, want none", h)
	}
	e.Reconcile()
}
