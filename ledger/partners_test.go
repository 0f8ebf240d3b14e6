package ledger_test

import (
	"context"
	"testing"

	"github.com/tally-ledger/tally/internal/fault"
	"github.com/tally-ledger/tally/ledger"
)

// A partner key founds a partner; AddPartnerKey gives it another key in the
// same space; every other role's key has a space apart.
func TestPartnerKeysShareTheirPartnersSpace(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	_, first, err := l.CreateKey(ctx, "waybill", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := l.CreateKey(ctx, "billing", ledger.RolePartner, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.PartnerID == 0 || other.PartnerID == 0 || first.PartnerID == other.PartnerID {
		t.Fatalf("two partner keys created apart belong to partners %d and %d, want two new partners", first.PartnerID, other.PartnerID)
	}
	secret, added, err := l.AddPartnerKey(ctx, first.PartnerID, "waybill-2026")
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != added.ID || got.ID == first.ID || got.Role != ledger.RolePartner || got.PartnerID != first.PartnerID ||
		got.Space() != first.Space() {
		t.Errorf("added key authenticates as %+v (space %s), want a new partner key of partner %d (space %s)",
			got, got.Space(), first.PartnerID, first.Space())
	}
	if first.Space() == other.Space() {
		t.Errorf("two partners share the space %s", first.Space())
	}
	spaces := map[string]bool{first.Space(): true, other.Space(): true}
	for _, k := range []struct {
		role     ledger.Role
		customer string
	}{{ledger.RoleAdmin, ""}, {ledger.RoleAdmin, ""}, {ledger.RoleFinance, ""}, {ledger.RoleCustomer, "C1"}} {
		_, key, err := l.CreateKey(ctx, "k", k.role, k.customer)
		if err != nil {
			t.Fatal(err)
		}
		if key.PartnerID != 0 || spaces[key.Space()] {
			t.Errorf("%s key %+v: partner %d, space %s shared", k.role, key, key.PartnerID, key.Space())
		}
		spaces[key.Space()] = true
	}
	_, customerKey, err := l.CreateKey(ctx, "second app", ledger.RoleCustomer, "C1")
	if err != nil {
		t.Fatal(err)
	}
	if !spaces[customerKey.Space()] {
		t.Errorf("C1's second key has space %s, want C1's, shared with its first key", customerKey.Space())
	}
	if _, _, err := l.AddPartnerKey(ctx, first.PartnerID+other.PartnerID, "nobody's"); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("a key for a partner that does not exist: %v, want %s", err, fault.NotFound)
	}
}
