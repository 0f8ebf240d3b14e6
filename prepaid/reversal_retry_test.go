package prepaid_test

import (
	"crypto/sha256"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/internal/servicetest"
	"github.com/tally-ledger/tally/ledger"
	"github.com/tally-ledger/tally/prepaid"
)

// TestReversalRetriedWithItsKeyIsReplayed: C1 deposits 5,000 (rebate
// 150.00) and is charged 1,000 (chg-1) and 500 (chg-2): 3,500 principal
// left. chg-1 reversed with key K1 answers the reversal, not replayed, with
// 4,500 principal. The same request again answers the same reversal,
// replayed, with the balances as they are now (4,300 after a charge of 200
// meanwhile) and writes nothing. K1 with another request's hash is an
// idempotency conflict, another key on the reversed charge is
// already_reversed, and K1 with its own hash on another reversed movement
// (chg-2) is an idempotency conflict: its entry reversed chg-1.
func TestReversalRetriedWithItsKeyIsReplayed(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.MoneyAt(t, prepaid.Deposit, "dep-1", "C1", "5000", march(1, 9))
	chg1 := e.MoneyAt(t, prepaid.Charge, "chg-1", "C1", "1000", march(2, 9))
	e.MoneyAt(t, prepaid.Charge, "chg-2", "C1", "500", march(3, 9))
	hash := sha256.Sum256([]byte("reverse chg-1: shipment cancelled"))
	reverse := func(id, key string, hash []byte) (prepaid.MoneyMovement, bool, error) {
		return e.Prepaid.ReverseMoneyWithKey(e.Ctx, prepaid.Charge, "", id, "shipment cancelled", "test", key, hash)
	}

	first, replayed, err := reverse("chg-1", "K1", hash[:])
	if err != nil || replayed {
		t.Fatalf("first reversal: replayed %v, %v", replayed, err)
	}
	if first.ID != "chg-1" || first.EntryID != chg1.EntryID || first.ReversalEntryID == nil ||
		!first.Principal.Equal(d("4500")) || !first.RebateBalance.Equal(d("150")) {
		t.Fatalf("first reversal answered %+v, want chg-1 reversed, 4500 principal and 150 rebate", first)
	}
	e.MoneyAt(t, prepaid.Charge, "chg-3", "C1", "200", march(4, 9))
	entries := e.TableRows("entries")

	again, replayed, err := reverse("chg-1", "K1", hash[:])
	if err != nil || !replayed {
		t.Fatalf("retry: replayed %v, %v; want the reversal replayed", replayed, err)
	}
	if again.ID != "chg-1" || again.Kind != prepaid.Charge || again.CustomerID != "C1" || again.EntryID != chg1.EntryID ||
		again.ReversalEntryID == nil || *again.ReversalEntryID != *first.ReversalEntryID ||
		!again.Principal.Equal(d("4300")) || !again.RebateBalance.Equal(d("150")) {
		t.Errorf("retry answered %+v, want chg-1 reversed by entry %d, 4300 principal and 150 rebate now", again, *first.ReversalEntryID)
	}
	if n := e.TableRows("entries"); n != entries {
		t.Errorf("the retry wrote %d entries, want none", n-entries)
	}

	other := sha256.Sum256([]byte("reverse chg-1: another reason"))
	_, replayed, err = reverse("chg-1", "K1", other[:])
	servicetest.WantCode(t, err, fault.IdempotencyConflict)
	if replayed {
		t.Error("a conflicting request answered as replayed")
	}
	_, replayed, err = reverse("chg-1", "K2", hash[:])
	servicetest.WantCode(t, err, fault.AlreadyReversed)
	if replayed {
		t.Error("another key on a reversed charge answered as replayed")
	}
	if _, err := e.Prepaid.ReverseMoney(e.Ctx, prepaid.Charge, "", "chg-2", "duplicate", "test"); err != nil {
		t.Fatal(err)
	}
	_, replayed, err = reverse("chg-2", "K1", hash[:])
	servicetest.WantCode(t, err, fault.IdempotencyConflict)
	if replayed {
		t.Error("K1 on another reversed charge answered as replayed")
	}
	if n := e.TableRows("entries"); n != entries+1 {
		t.Errorf("%d entries written since the charge of 200, want 1 (chg-2's reversal)", n-entries)
	}
	b := e.Balances(t, "C1")
	if !b.Prepaid.Principal.Equal(d("4800")) || !b.Prepaid.Rebate.Equal(d("150")) {
		t.Errorf("C1 holds %s principal and %s rebate, want 4800 (5000 - 200) and 150", b.Prepaid.Principal, b.Prepaid.Rebate)
	}
	e.Reconcile()
}

// TestReversalFindsTheMovementInItsSpace: ids are unique per space. dep-1
// is a deposit of C1 in space p1 and of C2 in space p2; only-p1 a deposit
// of C1 in p1. Named in a space that does not hold it, a deposit is not
// found, even when another space does; named in any space
// (ledger.AnySpace), dep-1 is ambiguous and only-p1 is found; named in p2,
// dep-1 is C2's. What was refused reversed nothing.
func TestReversalFindsTheMovementInItsSpace(t *testing.T) {
	e := newEnv(t)
	e.Customer("C1")
	e.Customer("C2")
	deposit := func(space, id, customer string) {
		t.Helper()
		if _, _, err := e.Prepaid.Deposit(e.Ctx, prepaid.MoneyInput{ID: id, CustomerID: customer, Amount: d("1000"),
			OccurredAt: march(1, 9), Space: space}, "test"); err != nil {
			t.Fatalf("deposit %s of %s in %s: %v", id, customer, space, err)
		}
	}
	deposit("p1", "dep-1", "C1")
	deposit("p2", "dep-1", "C2")
	deposit("p1", "only-p1", "C1")
	reverse := func(space, id string) (prepaid.MoneyMovement, error) {
		return e.Prepaid.ReverseMoney(e.Ctx, prepaid.Deposit, space, id, "bounced", "test")
	}
	reversed := func() int {
		t.Helper()
		var n int
		e.Scan(t, `SELECT count(*) FROM money_movements WHERE reversal_entry_id IS NOT NULL`, &n)
		return n
	}

	_, err := reverse("p3", "dep-1")
	servicetest.WantCode(t, err, fault.NotFound)
	_, err = reverse("p2", "only-p1")
	servicetest.WantCode(t, err, fault.NotFound)
	_, err = reverse(ledger.AnySpace, "dep-1")
	servicetest.WantCode(t, err, fault.AmbiguousID)
	if n := reversed(); n != 0 {
		t.Fatalf("%d movements reversed by refused requests", n)
	}

	m, err := reverse("p2", "dep-1")
	if err != nil || m.Space != "p2" || m.CustomerID != "C2" || m.ReversalEntryID == nil {
		t.Fatalf("dep-1 of p2 reversed: %+v, %v; want C2's", m, err)
	}
	m, err = reverse(ledger.AnySpace, "only-p1")
	if err != nil || m.Space != "p1" || m.CustomerID != "C1" || m.ID != "only-p1" || m.ReversalEntryID == nil {
		t.Fatalf("only-p1 in any space reversed: %+v, %v; want C1's in p1", m, err)
	}
	if n := reversed(); n != 2 {
		t.Errorf("%d movements reversed, want 2", n)
	}
	// Each deposit of 1,000 is 1,000 principal and a 2% rebate of 20.
	if b := e.Balances(t, "C1"); !b.Prepaid.Principal.Equal(d("1000")) || !b.Prepaid.Rebate.Equal(d("20")) {
		t.Errorf("C1 holds %s principal and %s rebate, want its dep-1 of p1 alone: 1000 and 20", b.Prepaid.Principal, b.Prepaid.Rebate)
	}
	if b := e.Balances(t, "C2"); !b.Prepaid.Principal.IsZero() || !b.Prepaid.Rebate.IsZero() {
		t.Errorf("C2 holds %s principal and %s rebate, want nothing", b.Prepaid.Principal, b.Prepaid.Rebate)
	}
	e.Reconcile()
}
